import assert from "node:assert/strict";
import { CONSOLE_BUFFER_BYTES, ConsoleTap } from "./console_tap.ts";

const enc = new TextEncoder();

Deno.test("ConsoleTap: a reader gets every chunk in order; the tail keeps the last lines", async () => {
  const tap = new ConsoleTap();
  for (let i = 0; i < 100; i++) tap.push(enc.encode(`line ${i}\r\n`));
  tap.close();
  const text = await new Response(tap.readable).text();
  assert.equal(text, Array.from({ length: 100 }, (_, i) => `line ${i}\r\n`).join(""));
  assert.equal(tap.tail(3), "line 98\nline 99\n");
  assert.equal(tap.dropped, 0);
});

Deno.test("ConsoleTap: output nobody reads is bounded: past 1 MiB it is dropped and counted", async () => {
  const tap = new ConsoleTap();
  const chunk = new Uint8Array(65536).fill(0x41);
  for (let i = 0; i < 32; i++) tap.push(chunk);
  assert.equal(tap.dropped, 32 * 65536 - CONSOLE_BUFFER_BYTES);
  tap.push(enc.encode("\nlast words\n"));
  assert.match(tap.tail(2), /last words/);
  assert.ok(tap.tail(1000).length <= 16384 + 65536);
  tap.close();
  let got = 0;
  for await (const c of tap.readable) got += c.length;
  assert.equal(got, CONSOLE_BUFFER_BYTES);
});

Deno.test("ConsoleTap: a reader that cancels stops the queueing, not the tail", async () => {
  const tap = new ConsoleTap();
  await tap.readable.cancel();
  tap.push(enc.encode("after cancel\n"));
  assert.equal(tap.tail(1), "");
  assert.match(tap.tail(2), /after cancel/);
});
