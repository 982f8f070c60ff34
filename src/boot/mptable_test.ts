import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { EBDA_ADDR, IOAPIC_ADDR, LAPIC_ADDR, LOW_MEM_END } from "../memory/layout.ts";
import { MP_ENTRY, mpTableRange, mpTableSize, writeMpTable } from "./mptable.ts";

const MiB = 2 ** 20;
const sum = (b: Uint8Array) => b.reduce((a, x) => a + x, 0) & 0xff;
const ascii = (b: Uint8Array) => new TextDecoder().decode(b);

/** Finds the floating pointer the way Linux does: 16-byte steps through the last KiB. */
function scanFloatingPointer(mem: GuestMemory): number | undefined {
  for (let a = EBDA_ADDR; a < LOW_MEM_END; a += 16) {
    if (
      ascii(mem.slice(a, 4)) === "_MP_" && mem.readU8(a + 8) === 1 && sum(mem.slice(a, 16)) === 0
    ) {
      return a;
    }
  }
  return undefined;
}

interface Entry {
  type: number;
  at: number;
}

function walk(mem: GuestMemory, table: number, count: number, length: number): Entry[] {
  const out: Entry[] = [];
  let o = table + 44;
  for (let i = 0; i < count; i++) {
    const type = mem.readU8(o);
    out.push({ type, at: o });
    o += type === MP_ENTRY.PROCESSOR ? 20 : 8;
  }
  assert.equal(o, table + length, "entries fill the table exactly");
  return out;
}

for (const cpus of [1, 4]) {
  Deno.test(`MP table for ${cpus} CPU(s): checksums, entries, routing`, () => {
    const mem = GuestMemory.fromBuffers(16 * MiB);
    const range = writeMpTable(mem, cpus);
    assert.deepEqual(range, mpTableRange(cpus));
    assert.ok(range.addr >= EBDA_ADDR && range.addr + range.size === LOW_MEM_END);

    const fp = scanFloatingPointer(mem);
    assert.equal(fp, LOW_MEM_END - 16);
    assert.equal(mem.readU8(fp + 9), 4); // spec rev 1.4
    assert.equal(mem.readU8(fp + 11), 0); // feature byte 1: a table is present
    assert.equal(mem.readU8(fp + 12), 0); // no IMCR: virtual-wire mode
    const table = mem.readU32(fp + 4);
    assert.ok(table >= range.addr && table < fp);

    const length = mem.readU16(table + 4);
    assert.equal(table + length, fp);
    assert.equal(16 + length, mpTableSize(cpus));
    assert.equal(ascii(mem.slice(table, 4)), "PCMP");
    assert.equal(mem.readU8(table + 6), 4);
    assert.equal(sum(mem.slice(table, length)), 0);
    assert.equal(ascii(mem.slice(table + 8, 8)), "DENOVMM ");
    assert.equal(mem.readU32(table + 36), LAPIC_ADDR);
    const count = mem.readU16(table + 34);
    assert.equal(count, cpus + 1 + 1 + 24 + 2);

    const entries = walk(mem, table, count, length);
    const of = (t: number) => entries.filter((e) => e.type === t).map((e) => e.at);
    const procs = of(MP_ENTRY.PROCESSOR);
    assert.equal(procs.length, cpus);
    procs.forEach((o, id) => {
      assert.equal(mem.readU8(o + 1), id); // local APIC id
      assert.equal(mem.readU8(o + 2), 0x14);
      assert.equal(mem.readU8(o + 3), id === 0 ? 3 : 1); // enabled (+ BSP on CPU 0)
      assert.notEqual(mem.readU32(o + 4), 0); // CPU signature
      assert.equal(mem.readU32(o + 8) & 0x201, 0x201); // FPU, APIC
    });
    const [bus] = of(MP_ENTRY.BUS);
    assert.equal(mem.readU8(bus + 1), 0);
    assert.equal(ascii(mem.slice(bus + 2, 6)), "ISA   ");
    const ioapics = of(MP_ENTRY.IOAPIC);
    assert.equal(ioapics.length, 1);
    assert.equal(mem.readU8(ioapics[0] + 1), cpus); // id after the CPUs'
    assert.equal(mem.readU8(ioapics[0] + 2), 0x11);
    assert.equal(mem.readU8(ioapics[0] + 3), 1);
    assert.equal(mem.readU32(ioapics[0] + 4), IOAPIC_ADDR);
    const ints = of(MP_ENTRY.IO_INTERRUPT);
    assert.equal(ints.length, 24);
    ints.forEach((o, irq) => {
      assert.equal(mem.readU8(o + 1), 0); // INT
      assert.equal(mem.readU16(o + 2), 0); // conforms to the bus
      assert.equal(mem.readU8(o + 4), 0); // ISA bus
      assert.equal(mem.readU8(o + 5), irq);
      assert.equal(mem.readU8(o + 6), cpus);
      assert.equal(mem.readU8(o + 7), irq);
    });
    const lints = of(MP_ENTRY.LOCAL_INTERRUPT);
    assert.deepEqual(
      lints.map((o) => [mem.readU8(o + 1), mem.readU8(o + 6), mem.readU8(o + 7)]),
      [[3, 0xff, 0], [1, 0xff, 1]], // ExtINT on LINT0, NMI on LINT1, every local APIC
    );
  });
}

Deno.test("MP table: 64 CPUs fit below LOW_MEM_END, 0 and 65 are refused", () => {
  const mem = GuestMemory.fromBuffers(16 * MiB);
  const range = writeMpTable(mem, 64);
  assert.equal(range.addr + range.size, LOW_MEM_END);
  assert.equal(range.addr % 16, 0);
  assert.ok(range.size >= mpTableSize(64));
  assert.equal(scanFloatingPointer(mem), LOW_MEM_END - 16);
  assert.equal(
    sum(mem.slice(mem.readU32(LOW_MEM_END - 12), mem.readU16(mem.readU32(LOW_MEM_END - 12) + 4))),
    0,
  );
  assert.throws(() => writeMpTable(mem, 0), /1 to 64 CPUs, not 0/);
  assert.throws(() => writeMpTable(mem, 65), /1 to 64 CPUs, not 65/);
  assert.throws(() => writeMpTable(mem, 1.5), /not 1.5/);
});
