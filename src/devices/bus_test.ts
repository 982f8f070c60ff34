import assert from "node:assert/strict";
import { type BusDevice, IoBus } from "./bus.ts";

const rec = () => {
  const log: [string, number, number][] = [];
  const dev: BusDevice = {
    read: (o, d) => {
      log.push(["r", o, d.length]);
      d.fill(0x11);
    },
    write: (o, d) => void log.push(["w", o, d.length]),
  };
  return { dev, log };
};

Deno.test("bus: routes by range with offsets; edges; unmapped returns false", () => {
  const bus = new IoBus();
  const a = rec();
  const b = rec();
  bus.insert(0x100, 0x10, a.dev, "a");
  bus.insert(0x110, 0x10, b.dev, "b");
  const d = new Uint8Array(4);
  assert.ok(bus.read(0x100, d));
  assert.ok(bus.write(0x10f, d.subarray(0, 1)));
  assert.ok(bus.read(0x110, d));
  assert.equal(bus.read(0x120, d), false);
  assert.equal(bus.write(0xff, d), false);
  assert.deepEqual(a.log, [["r", 0, 4], ["w", 0xf, 1]]);
  assert.deepEqual(b.log, [["r", 0, 4]]);
});

Deno.test("bus: overlaps and empty ranges are refused", () => {
  const bus = new IoBus();
  bus.insert(0x100, 0x10, rec().dev, "a");
  assert.throws(() => bus.insert(0x10f, 2, rec().dev, "b"), /overlaps a/);
  assert.throws(() => bus.insert(0xf0, 0x11, rec().dev, "c"), /overlaps a/);
  assert.throws(() => bus.insert(0x200, 0, rec().dev, "d"), /positive length/);
  bus.insert(0x110, 1, rec().dev, "e");
  assert.equal(bus.list().length, 2);
});
