import assert from "node:assert/strict";
import { DebugPort } from "./debug_port.ts";

Deno.test("debug port: POST codes are kept and otherwise ignored; reads float high", () => {
  const post = new DebugPort();
  post.write(0, new Uint8Array([0x42]));
  post.write(0, new Uint8Array([0x00]));
  assert.equal(post.lastCode, 0x00);
  assert.equal(post.writes, 2);
  const d = new Uint8Array(2);
  post.read(0, d);
  assert.deepEqual([...d], [0xff, 0xff]);
});
