/**
 * An Intel MultiProcessor Specification 1.4 table: how a kernel without ACPI finds its CPUs,
 * the IOAPIC and the ISA interrupt routing. It lives in the BIOS area at {@link MPTABLE_ADDR},
 * one of the places Linux scans for the floating pointer, which the e820 map marks reserved.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { IOAPIC_ADDR, IOAPIC_LAST_GSI, LAPIC_ADDR, MPTABLE_ADDR } from "../memory/layout.ts";

const FLOATING_SIZE = 16;
const HEADER_SIZE = 44;
const PROCESSOR_SIZE = 20;
const SMALL_ENTRY_SIZE = 8;
/** MP entry types. */
export const MP_ENTRY = {
  PROCESSOR: 0,
  BUS: 1,
  IOAPIC: 2,
  IO_INTERRUPT: 3,
  LOCAL_INTERRUPT: 4,
} as const;
/** Interrupt types of I/O and local interrupt entries. */
export const MP_INT = { INT: 0, NMI: 1, SMI: 2, EXTINT: 3 } as const;
/** Largest vCPU count the table describes (APIC ids are 8 bits; the IOAPIC takes the next id). */
export const MPTABLE_MAX_CPUS = 254;
/** The local APIC version reported for every CPU (an integrated APIC). */
const LAPIC_VERSION = 0x14;
/** The IOAPIC version reported (82093AA-compatible). */
const IOAPIC_VERSION = 0x11;

const checksum = (b: Uint8Array) => (0x100 - (b.reduce((a, x) => a + x, 0) & 0xff)) & 0xff;

/**
 * Writes the floating pointer and configuration table for `cpus` CPUs; returns the range used.
 *
 * @example
 * ```ts
 * const { addr, size } = writeMpTable(mem, 2);
 * ```
 */
export function writeMpTable(mem: GuestMemory, cpus: number): { addr: number; size: number } {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MPTABLE_MAX_CPUS) {
    throw new Error(`The MP table describes 1 to ${MPTABLE_MAX_CPUS} CPUs, not ${cpus}`);
  }
  const ioapicId = cpus;
  const irqs = IOAPIC_LAST_GSI + 1;
  const entries = cpus + 1 + 1 + irqs + 2;
  const tableSize = HEADER_SIZE + cpus * PROCESSOR_SIZE + (2 + irqs + 2) * SMALL_ENTRY_SIZE;
  const table = new Uint8Array(tableSize);
  const v = new DataView(table.buffer);
  const ascii = (at: number, s: string) =>
    [...s].forEach((c, i) => (table[at + i] = c.charCodeAt(0)));

  ascii(0, "PCMP");
  v.setUint16(4, tableSize, true);
  table[6] = 4; // spec revision 1.4
  ascii(8, "DENOVMM ");
  ascii(16, "MICROVM     ");
  v.setUint16(34, entries, true);
  v.setUint32(36, LAPIC_ADDR, true);

  let o = HEADER_SIZE;
  for (let id = 0; id < cpus; id++) {
    table[o] = MP_ENTRY.PROCESSOR;
    table[o + 1] = id;
    table[o + 2] = LAPIC_VERSION;
    table[o + 3] = 1 | (id === 0 ? 2 : 0); // enabled, boot processor
    v.setUint32(o + 4, 0x600, true); // CPU signature: family 6
    v.setUint32(o + 8, 0x201, true); // feature flags: FPU, APIC
    o += PROCESSOR_SIZE;
  }
  table[o] = MP_ENTRY.BUS;
  table[o + 1] = 0;
  ascii(o + 2, "ISA   ");
  o += SMALL_ENTRY_SIZE;
  table[o] = MP_ENTRY.IOAPIC;
  table[o + 1] = ioapicId;
  table[o + 2] = IOAPIC_VERSION;
  table[o + 3] = 1; // enabled
  v.setUint32(o + 4, IOAPIC_ADDR, true);
  o += SMALL_ENTRY_SIZE;
  for (let irq = 0; irq < irqs; irq++) {
    // ISA IRQ n on IOAPIC pin n; flags 0 = conforms to the bus (edge, active high for ISA).
    table[o] = MP_ENTRY.IO_INTERRUPT;
    table[o + 1] = MP_INT.INT;
    table[o + 4] = 0;
    table[o + 5] = irq;
    table[o + 6] = ioapicId;
    table[o + 7] = irq;
    o += SMALL_ENTRY_SIZE;
  }
  for (const [type, lint] of [[MP_INT.EXTINT, 0], [MP_INT.NMI, 1]]) {
    table[o] = MP_ENTRY.LOCAL_INTERRUPT;
    table[o + 1] = type;
    table[o + 4] = 0;
    table[o + 5] = 0;
    table[o + 6] = 0xff; // every local APIC
    table[o + 7] = lint;
    o += SMALL_ENTRY_SIZE;
  }
  table[7] = checksum(table);

  const floating = new Uint8Array(FLOATING_SIZE);
  const fv = new DataView(floating.buffer);
  [..."_MP_"].forEach((c, i) => (floating[i] = c.charCodeAt(0)));
  fv.setUint32(4, MPTABLE_ADDR + FLOATING_SIZE, true);
  floating[8] = 1; // length in 16-byte units
  floating[9] = 4; // spec revision 1.4
  floating[10] = checksum(floating);

  mem.write(MPTABLE_ADDR, floating);
  mem.write(MPTABLE_ADDR + FLOATING_SIZE, table);
  return { addr: MPTABLE_ADDR, size: FLOATING_SIZE + tableSize };
}
