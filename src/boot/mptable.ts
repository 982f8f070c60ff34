/**
 * An Intel MultiProcessor Specification 1.4 table: how a kernel without ACPI finds its CPUs, the
 * IOAPIC and the ISA interrupt routing.
 *
 * Placement: the floating pointer takes the last 16 bytes below {@link LOW_MEM_END}, inside the
 * "last KiB of base memory" ({@link EBDA_ADDR}..{@link LOW_MEM_END}) that Linux scans, and the
 * configuration table sits right below it. Up to 36 CPUs everything fits in that KiB; with more
 * the table reaches below EBDA_ADDR. {@link writeMpTable} returns the range so the e820 map can
 * mark it reserved.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { IOAPIC_ADDR, IOAPIC_LAST_GSI, LAPIC_ADDR, LOW_MEM_END } from "../memory/layout.ts";

/** Sizes of the structures, in bytes. */
export const MP_SIZE = {
  FLOATING_POINTER: 16,
  HEADER: 44,
  PROCESSOR: 20,
  /** Bus, IOAPIC, I/O interrupt and local interrupt entries. */
  SMALL_ENTRY: 8,
} as const;
/** Entry types of the configuration table. */
export const MP_ENTRY = {
  PROCESSOR: 0,
  BUS: 1,
  IOAPIC: 2,
  IO_INTERRUPT: 3,
  LOCAL_INTERRUPT: 4,
} as const;
/** Interrupt types of I/O and local interrupt entries. */
export const MP_INT = { INT: 0, NMI: 1, SMI: 2, EXTINT: 3 } as const;
/** Processor entry flags. */
export const MP_CPU_FLAG = { ENABLED: 1, BSP: 2 } as const;
/** Most vCPUs the table describes (the CLI's --cpus limit and the guest's NR_CPUS). */
export const MPTABLE_MAX_CPUS = 64;
/** Spec revision 1.4, as written in both structures. */
export const MP_SPEC_REV = 4;

/** KVM's in-kernel local APIC identifies as an integrated APIC, version 0x14. */
const LAPIC_VERSION = 0x14;
/** 82093AA-compatible IOAPIC. */
const IOAPIC_VERSION = 0x11;
/** CPU signature of the processor entries: family 6, model 0, stepping 0. */
const CPU_SIGNATURE = 0x600;
/** CPUID.1:EDX bits reported: FPU (0) and APIC (9); Linux reads the real CPUID anyway. */
const CPU_FEATURES = (1 << 0) | (1 << 9);
/** Destination "all local APICs" of a local interrupt entry. */
const ALL_LAPICS = 0xff;
/** I/O and local interrupt flags: polarity and trigger mode conform to the bus (ISA: edge, high). */
const CONFORMS_TO_BUS = 0;
const ISA_BUS_ID = 0;

/** A guest-physical range. */
export interface GuestRange {
  addr: number;
  size: number;
}

/**
 * Bytes the floating pointer plus configuration table take for `cpus` CPUs.
 *
 * @example
 * ```ts
 * mpTableSize(1); // 304
 * ```
 */
export function mpTableSize(cpus: number): number {
  return MP_SIZE.FLOATING_POINTER + configTableSize(cpus);
}

function configTableSize(cpus: number): number {
  const irqs = IOAPIC_LAST_GSI + 1;
  // bus + IOAPIC + one I/O interrupt per IOAPIC pin + LINT0 + LINT1
  return MP_SIZE.HEADER + cpus * MP_SIZE.PROCESSOR + (2 + irqs + 2) * MP_SIZE.SMALL_ENTRY;
}

/**
 * Two's-complement checksum: the byte that makes `bytes` sum to 0 mod 256.
 *
 * @example
 * ```ts
 * mpChecksum(new Uint8Array([1, 2])); // 253
 * ```
 */
export function mpChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum += b;
  return (0x100 - (sum & 0xff)) & 0xff;
}

/** Little-endian writes into a buffer the table is built in before one copy into the guest. */
class TableBuilder {
  readonly bytes: Uint8Array;
  readonly #v: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.#v = new DataView(this.bytes.buffer);
  }

  ascii(at: number, s: string, width: number): void {
    const padded = s.padEnd(width, " ");
    for (let i = 0; i < width; i++) this.bytes[at + i] = padded.charCodeAt(i);
  }

  u8(at: number, v: number): void {
    this.bytes[at] = v;
  }

  u16(at: number, v: number): void {
    this.#v.setUint16(at, v, true);
  }

  u32(at: number, v: number): void {
    this.#v.setUint32(at, v, true);
  }
}

function buildConfigTable(cpus: number): Uint8Array {
  const irqs = IOAPIC_LAST_GSI + 1;
  const ioapicId = cpus; // the first APIC id after the CPUs'
  const size = configTableSize(cpus);
  const t = new TableBuilder(size);
  t.ascii(0, "PCMP", 4);
  t.u16(4, size); // base table length
  t.u8(6, MP_SPEC_REV);
  t.ascii(8, "DENOVMM", 8); // OEM id
  t.ascii(16, "MICROVM", 12); // product id
  t.u16(34, cpus + 2 + irqs + 2); // entry count
  t.u32(36, LAPIC_ADDR);

  let o = MP_SIZE.HEADER;
  for (let id = 0; id < cpus; id++) {
    t.u8(o, MP_ENTRY.PROCESSOR);
    t.u8(o + 1, id); // local APIC id = vCPU index, as KVM assigns them
    t.u8(o + 2, LAPIC_VERSION);
    t.u8(o + 3, MP_CPU_FLAG.ENABLED | (id === 0 ? MP_CPU_FLAG.BSP : 0));
    t.u32(o + 4, CPU_SIGNATURE);
    t.u32(o + 8, CPU_FEATURES);
    o += MP_SIZE.PROCESSOR;
  }
  t.u8(o, MP_ENTRY.BUS);
  t.u8(o + 1, ISA_BUS_ID);
  t.ascii(o + 2, "ISA", 6);
  o += MP_SIZE.SMALL_ENTRY;
  t.u8(o, MP_ENTRY.IOAPIC);
  t.u8(o + 1, ioapicId);
  t.u8(o + 2, IOAPIC_VERSION);
  t.u8(o + 3, 1); // enabled
  t.u32(o + 4, IOAPIC_ADDR);
  o += MP_SIZE.SMALL_ENTRY;
  for (let irq = 0; irq < irqs; irq++) {
    // KVM's default routing wires GSI n to IOAPIC pin n (and PIC line n below 16).
    t.u8(o, MP_ENTRY.IO_INTERRUPT);
    t.u8(o + 1, MP_INT.INT);
    t.u16(o + 2, CONFORMS_TO_BUS);
    t.u8(o + 4, ISA_BUS_ID);
    t.u8(o + 5, irq);
    t.u8(o + 6, ioapicId);
    t.u8(o + 7, irq);
    o += MP_SIZE.SMALL_ENTRY;
  }
  // Virtual-wire mode: the PIC reaches the CPUs through LINT0, NMIs through LINT1.
  for (const [type, lint] of [[MP_INT.EXTINT, 0], [MP_INT.NMI, 1]]) {
    t.u8(o, MP_ENTRY.LOCAL_INTERRUPT);
    t.u8(o + 1, type);
    t.u16(o + 2, CONFORMS_TO_BUS);
    t.u8(o + 4, ISA_BUS_ID);
    t.u8(o + 5, 0);
    t.u8(o + 6, ALL_LAPICS);
    t.u8(o + 7, lint);
    o += MP_SIZE.SMALL_ENTRY;
  }
  t.u8(7, mpChecksum(t.bytes));
  return t.bytes;
}

function buildFloatingPointer(tableAddr: number): Uint8Array {
  const f = new TableBuilder(MP_SIZE.FLOATING_POINTER);
  f.ascii(0, "_MP_", 4);
  f.u32(4, tableAddr);
  f.u8(8, 1); // length in 16-byte units
  f.u8(9, MP_SPEC_REV);
  // Feature bytes stay 0: a configuration table is present, and no IMCR (virtual-wire mode).
  f.u8(10, mpChecksum(f.bytes));
  return f.bytes;
}

/**
 * Where the table for `cpus` CPUs goes: a 16-byte-aligned range ending at {@link LOW_MEM_END}.
 *
 * @example
 * ```ts
 * mpTableRange(1); // { addr: 0x9fed0, size: 0x130 }
 * ```
 */
export function mpTableRange(cpus: number): GuestRange {
  checkCpus(cpus);
  const addr = Math.floor((LOW_MEM_END - mpTableSize(cpus)) / 16) * 16;
  return { addr, size: LOW_MEM_END - addr };
}

function checkCpus(cpus: number): void {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MPTABLE_MAX_CPUS) {
    throw new Error(`The MP table describes 1 to ${MPTABLE_MAX_CPUS} CPUs, not ${cpus}`);
  }
}

/**
 * Writes the floating pointer and configuration table for `cpus` CPUs (APIC ids 0..cpus-1, the
 * IOAPIC gets id `cpus`); returns the range used, for the e820 map.
 *
 * @example
 * ```ts
 * const reserved = writeMpTable(mem, 2); // { addr: 0x9feb0, size: 0x150 }
 * ```
 */
export function writeMpTable(mem: GuestMemory, cpus: number): GuestRange {
  const range = mpTableRange(cpus);
  const floatingAddr = LOW_MEM_END - MP_SIZE.FLOATING_POINTER;
  const table = buildConfigTable(cpus);
  const tableAddr = floatingAddr - table.length;
  mem.slice(range.addr, range.size).fill(0);
  mem.write(tableAddr, table);
  mem.write(floatingAddr, buildFloatingPointer(tableAddr));
  return range;
}
