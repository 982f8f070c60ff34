import assert from "node:assert/strict";
import { type BusDevice, IoBus, offsetDevice } from "./bus.ts";

function recorder(fill = 0x11) {
  const log: string[] = [];
  const dev: BusDevice = {
    read: (offset, data) => {
      log.push(`r${offset}/${data.length}`);
      data.fill(fill);
    },
    write: (offset, data) => void log.push(`w${offset}/${data.length}=${data[0]}`),
  };
  return { dev, log };
}

Deno.test("bus: routes to the range holding the address, with the offset from its base", () => {
  const bus = new IoBus();
  const a = recorder(0xaa);
  const b = recorder(0xbb);
  bus.insert(0x100, 0x10, a.dev, "a");
  bus.insert(0x110, 0x10, b.dev, "b");
  const d = new Uint8Array(4);
  assert.equal(bus.read(0x104, d), true);
  assert.deepEqual([...d], [0xaa, 0xaa, 0xaa, 0xaa]);
  assert.equal(bus.write(0x11c, new Uint8Array([7, 0])), true);
  assert.deepEqual(a.log, ["r4/4"]);
  assert.deepEqual(b.log, ["w12/2=7"]);
});

Deno.test("bus: lookup at range edges", () => {
  const bus = new IoBus();
  const a = recorder();
  const b = recorder();
  bus.insert(0x3f8, 8, a.dev, "com1");
  bus.insert(0x400, 1, b.dev, "next");
  const d = new Uint8Array(1);
  assert.equal(bus.read(0x3f7, d), false, "one below the base");
  assert.equal(bus.read(0x3f8, d), true, "the base");
  assert.equal(bus.read(0x3ff, d), true, "the last address");
  assert.equal(bus.read(0x400, d), true, "the adjacent range's only address");
  assert.equal(bus.read(0x401, d), false, "one past the end");
  assert.deepEqual(a.log, ["r0/1", "r7/1"]);
  assert.deepEqual(b.log, ["r0/1"]);
  assert.equal(bus.nameAt(0x3ff), "com1");
  assert.equal(bus.nameAt(0x400), "next");
  assert.equal(bus.nameAt(0x3f7), undefined);
});

Deno.test("bus: an unmapped access returns false and leaves data alone", () => {
  const bus = new IoBus();
  const d = new Uint8Array([1, 2]);
  assert.equal(bus.read(0x80, d), false, "empty bus");
  assert.equal(bus.write(0x80, d), false);
  bus.insert(0x60, 1, recorder().dev, "kbd");
  bus.insert(0x64, 1, recorder().dev, "kbd cmd");
  assert.equal(bus.read(0x62, d), false, "in a gap between ranges");
  assert.equal(bus.read(0, d), false, "below every range");
  assert.equal(bus.read(2 ** 40, d), false, "above every range");
  assert.deepEqual([...d], [1, 2]);
});

Deno.test("bus: overlaps are refused whichever side they touch", () => {
  const bus = new IoBus();
  bus.insert(0x100, 0x10, recorder().dev, "a");
  for (const [base, length] of [[0x10f, 2], [0xf0, 0x11], [0x104, 2], [0xf0, 0x100], [0x100, 1]]) {
    assert.throws(
      () => bus.insert(base, length, recorder().dev, "b"),
      (e: unknown) =>
        e instanceof RangeError && /b at \[.*overlaps a at \[0x100, 0x110\)/.test(e.message),
      `[0x${base.toString(16)}, +${length})`,
    );
  }
  bus.insert(0xff, 1, recorder().dev, "below");
  bus.insert(0x110, 1, recorder().dev, "above");
  assert.deepEqual(bus.list().map((r) => r.name), ["below", "a", "above"]);
});

Deno.test("bus: bad lengths and bases are refused with the device's name", () => {
  const bus = new IoBus();
  const dev = recorder().dev;
  for (const length of [0, -1, 1.5, NaN]) {
    assert.throws(() => bus.insert(0x200, length, dev, "d"), /Cannot add d .*positive integer/);
  }
  for (const base of [-1, 0.5, 2 ** 53]) {
    assert.throws(() => bus.insert(base, 1, dev, "e"), /Cannot add e .*base/);
  }
  assert.deepEqual(bus.list(), []);
});

Deno.test("bus: ranges inserted in any order are found, alternating lookups stay correct", () => {
  const bus = new IoBus();
  const devs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => recorder(i));
  for (const i of [5, 1, 7, 0, 3, 6, 2, 4]) bus.insert(0x1000 * i, 0x100, devs[i].dev, `d${i}`);
  const d = new Uint8Array(1);
  for (const i of [3, 3, 0, 7, 3, 5, 5, 1, 6, 2, 4, 0]) {
    assert.equal(bus.read(0x1000 * i + 0xff, d), true);
    assert.equal(d[0], i);
    assert.equal(bus.read(0x1000 * i + 0x100, d), false);
  }
  assert.deepEqual(bus.list().map((r) => r.base), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => 0x1000 * i));
  assert.deepEqual(bus.list()[2], { name: "d2", base: 0x2000, length: 0x100 });
});

Deno.test("bus: MMIO addresses above 4 GiB work", () => {
  const bus = new IoBus();
  const a = recorder();
  bus.insert(0x1_0000_0000, 0x1000, a.dev, "high");
  bus.insert(0xd000_0000, 0x1000, recorder().dev, "low");
  assert.equal(bus.write(0x1_0000_0ffc, new Uint8Array(4)), true);
  assert.deepEqual(a.log, ["w4092/4=0"]);
});

Deno.test("bus: offsetDevice shifts offsets so one device answers at two ranges", () => {
  const bus = new IoBus();
  const a = recorder();
  bus.insert(0x60, 1, a.dev, "data");
  bus.insert(0x64, 1, offsetDevice(a.dev, 4), "command");
  bus.read(0x60, new Uint8Array(1));
  bus.write(0x64, new Uint8Array([0xfe]));
  assert.deepEqual(a.log, ["r0/1", "w4/1=254"]);
  assert.equal(bus.read(0x61, new Uint8Array(1)), false);
});
