import assert from "node:assert/strict";
import { ByteFifo } from "./byte_fifo.ts";

Deno.test("byte fifo: first in, first out across the ring's wrap", () => {
  const f = new ByteFifo(3);
  const got: number[] = [];
  for (let i = 0; i < 10; i++) {
    assert.equal(f.push(i), true);
    if (f.length === 2) got.push(f.pop());
  }
  while (f.length > 0) got.push(f.pop());
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("byte fifo: bounded, pop of empty is -1, clear empties", () => {
  const f = new ByteFifo(2);
  assert.equal(f.pop(), -1);
  assert.equal(f.pushFrom([7, 8, 9]), 2);
  assert.equal(f.push(10), false);
  assert.equal(f.free, 0);
  assert.equal(f.capacity, 2);
  assert.equal(f.pop(), 7);
  assert.equal(f.push(0x1ff), true);
  assert.deepEqual([f.pop(), f.pop(), f.pop()], [8, 0xff, -1]);
  f.pushFrom([1, 2]);
  f.clear();
  assert.equal(f.length, 0);
  assert.equal(f.pop(), -1);
});

Deno.test("byte fifo: capacity must be a positive integer", () => {
  for (const c of [0, -1, 1.5]) assert.throws(() => new ByteFifo(c), /positive integer capacity/);
});
