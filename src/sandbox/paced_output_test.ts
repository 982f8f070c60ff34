import assert from "node:assert/strict";
import { PacedOutput } from "./paced_output.ts";

const bytes = (n: number) => new Uint8Array(n);

Deno.test("PacedOutput: credit goes back only as the reader takes chunks, in order", async () => {
  const released: number[] = [];
  const out = new PacedOutput((n) => released.push(n));
  out.push(bytes(3));
  out.push(bytes(5));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(released, [], "nothing is pulled ahead of a read");
  assert.equal(out.queuedBytes, 8);
  const reader = out.readable.getReader();
  assert.equal((await reader.read()).value!.length, 3);
  assert.deepEqual(released, [3]);
  const pending = reader.read(); // waits for data
  out.push(bytes(7));
  assert.equal((await pending).value!.length, 5);
  assert.equal((await reader.read()).value!.length, 7);
  assert.deepEqual(released, [3, 5, 7]);
  out.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("PacedOutput: close ends the stream after what is queued", async () => {
  const out = new PacedOutput(() => {});
  out.push(new TextEncoder().encode("a"));
  out.push(new TextEncoder().encode("b"));
  out.close();
  assert.equal(await new Response(out.readable).text(), "ab");
});

Deno.test("PacedOutput: cancel releases what waits and everything after", async () => {
  let released = 0;
  const out = new PacedOutput((n) => void (released += n));
  out.push(bytes(10));
  await out.readable.cancel();
  assert.equal(released, 10);
  out.push(bytes(4));
  assert.equal(released, 14);
  assert.equal(out.queuedBytes, 0);
});

Deno.test("PacedOutput: an error reaches the reader at its next read", async () => {
  const out = new PacedOutput(() => {});
  out.push(bytes(1));
  const reader = out.readable.getReader();
  const pending = reader.read();
  assert.equal((await pending).value!.length, 1);
  const next = reader.read();
  out.error(new Error("the VM ended"));
  await assert.rejects(next, /the VM ended/);
});
