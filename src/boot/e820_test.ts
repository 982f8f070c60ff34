import assert from "node:assert/strict";
import { ramRanges } from "../memory/layout.ts";
import { E820_TYPE, e820Map } from "./e820.ts";
import { mpTableRange } from "./mptable.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const { RAM, RESERVED } = E820_TYPE;

Deno.test("e820: 256 MiB", () => {
  assert.deepEqual(e820Map(ramRanges(256 * MiB), [mpTableRange(1)]), [
    { addr: 0, size: 0x9fc00, type: RAM },
    { addr: 0x9fc00, size: 0x400, type: RESERVED }, // EBDA, MP table inside it
    { addr: 0x10_0000, size: 256 * MiB - 0x10_0000, type: RAM },
  ]);
});

Deno.test("e820: 5 GiB leaves the MMIO hole out and resumes RAM at 4 GiB", () => {
  assert.deepEqual(e820Map(ramRanges(5 * GiB), [mpTableRange(4)]), [
    { addr: 0, size: 0x9fc00, type: RAM },
    { addr: 0x9fc00, size: 0x400, type: RESERVED },
    { addr: 0x10_0000, size: 0xd000_0000 - 0x10_0000, type: RAM },
    { addr: 0x1_0000_0000, size: 5 * GiB - 0xd000_0000, type: RAM },
  ]);
});

Deno.test("e820: a 64-CPU MP table reaching below the EBDA shrinks low RAM", () => {
  const mp = mpTableRange(64);
  assert.ok(mp.addr < 0x9fc00);
  assert.deepEqual(e820Map(ramRanges(256 * MiB), [mp]).slice(0, 2), [
    { addr: 0, size: mp.addr, type: RAM },
    { addr: mp.addr, size: 0xa0000 - mp.addr, type: RESERVED },
  ]);
});

Deno.test("e820: reserved ranges are merged and cut out of RAM", () => {
  const map = e820Map(ramRanges(64 * MiB), [
    { addr: 0x200_0000, size: 0x1000 },
    { addr: 0x200_0800, size: 0x1000 },
  ]);
  assert.deepEqual(map.slice(2), [
    { addr: 0x10_0000, size: 0x200_0000 - 0x10_0000, type: RAM },
    { addr: 0x200_0000, size: 0x1800, type: RESERVED },
    { addr: 0x200_1800, size: 64 * MiB - 0x200_1800, type: RAM },
  ]);
});
