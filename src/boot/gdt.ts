/**
 * The boot GDT and the long-mode register state of the boot vCPU. The 64-bit boot protocol asks
 * for flat 4 GiB segments and paging on; the kernel loads its own GDT right away, so these
 * selectors only need to be valid.
 *
 * @module
 */

import type { KvmSegment } from "../../ffi/kvm_structs.ts";
import type { GuestMemory } from "../memory/guest_memory.ts";
import { BOOT_STACK_ADDR, GDT_ADDR, IDT_ADDR, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import type { BootRegs, BootSregs } from "../vmm/vcpu_setup.ts";

/** Selectors of the boot GDT. */
export const SELECTOR = { CODE: 0x08, DATA: 0x10, TSS: 0x18 } as const;

/** Control-register bits used at boot. */
export const CR0 = { PE: 1n, ET: 0x10n, NE: 0x20n, PG: 0x8000_0000n } as const;
/** CR4.PAE. */
export const CR4_PAE = 0x20n;
/** EFER bits. */
export const EFER = { LME: 0x100n, LMA: 0x400n } as const;

/**
 * A segment in KVM's form; `gdtEntry` encodes the same thing as a descriptor, so the table the
 * guest sees and the hidden state KVM loads always agree.
 */
function segment(selector: number, type: number, s: number, l: number, db: number): KvmSegment {
  return {
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db,
    s,
    l,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/**
 * Encodes a segment as an 8-byte GDT descriptor (base 0, 4 GiB limit with 4 KiB granularity).
 *
 * @example
 * ```ts
 * gdtEntry(bootSegments().code); // 0x00af9b000000ffffn
 * ```
 */
export function gdtEntry(seg: KvmSegment): bigint {
  const limit = BigInt(seg.g ? seg.limit >>> 12 : seg.limit) & 0xfffffn;
  const base = seg.base & 0xffff_ffffn;
  const access = BigInt(
    (seg.present << 7) | (seg.dpl << 5) | (seg.s << 4) | (seg.type & 0xf),
  );
  const flags = BigInt((seg.g << 3) | (seg.db << 2) | (seg.l << 1) | seg.avl);
  return (limit & 0xffffn) |
    ((base & 0xff_ffffn) << 16n) |
    (access << 40n) |
    ((limit >> 16n) << 48n) |
    (flags << 52n) |
    ((base >> 24n) << 56n);
}

/**
 * Decodes an 8-byte descriptor back into KVM's segment form (for tests and diagnostics).
 *
 * @example
 * ```ts
 * decodeGdtEntry(0x00af9b000000ffffn, 0x08).l; // 1
 * ```
 */
export function decodeGdtEntry(d: bigint, selector: number): KvmSegment {
  const limitRaw = Number((d & 0xffffn) | (((d >> 48n) & 0xfn) << 16n));
  const g = Number((d >> 55n) & 1n);
  return {
    base: ((d >> 16n) & 0xff_ffffn) | (((d >> 56n) & 0xffn) << 24n),
    limit: g ? ((limitRaw << 12) | 0xfff) >>> 0 : limitRaw,
    selector,
    type: Number((d >> 40n) & 0xfn),
    present: Number((d >> 47n) & 1n),
    dpl: Number((d >> 45n) & 3n),
    db: Number((d >> 54n) & 1n),
    s: Number((d >> 44n) & 1n),
    l: Number((d >> 53n) & 1n),
    g,
    avl: Number((d >> 52n) & 1n),
    unusable: 0,
  };
}

/**
 * The boot segments: 64-bit code, flat data, and a busy 64-bit TSS (long mode requires a TR).
 *
 * @example
 * ```ts
 * bootSegments().code.selector; // 8
 * ```
 */
export function bootSegments(): { code: KvmSegment; data: KvmSegment; tss: KvmSegment } {
  return {
    code: segment(SELECTOR.CODE, 0xb, 1, 1, 0), // execute/read, accessed; L=1 (D must be 0)
    data: segment(SELECTOR.DATA, 0x3, 1, 0, 1), // read/write, accessed
    tss: segment(SELECTOR.TSS, 0xb, 0, 0, 0), // busy 64-bit TSS
  };
}

/**
 * Writes the GDT (null, code, data, TSS) and an empty IDT; returns the segment and control
 * registers for the boot vCPU.
 *
 * @example
 * ```ts
 * const sregs = writeGdtAndSregs(mem, cr3);
 * ```
 */
export function writeGdtAndSregs(mem: GuestMemory, cr3: bigint): BootSregs {
  const { code, data, tss } = bootSegments();
  const entries = [0n, gdtEntry(code), gdtEntry(data), gdtEntry(tss)];
  entries.forEach((e, i) => mem.writeU64(GDT_ADDR + 8 * i, e));
  mem.writeU64(IDT_ADDR, 0n);
  const ldt: KvmSegment = { ...segment(0, 0x2, 0, 0, 0), unusable: 1, present: 0 };
  return {
    cs: code,
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: tss,
    ldt,
    gdt: { base: BigInt(GDT_ADDR), limit: entries.length * 8 - 1 },
    idt: { base: BigInt(IDT_ADDR), limit: 7 },
    cr0: CR0.PE | CR0.ET | CR0.NE | CR0.PG,
    cr3,
    cr4: CR4_PAE,
    efer: EFER.LME | EFER.LMA,
  };
}

/**
 * General registers for the 64-bit entry: RIP at the entry, RSI at the zero page, a small stack.
 *
 * @example
 * ```ts
 * bootRegs(0x1000000).rsi; // 0x7000n
 * ```
 */
export function bootRegs(entry: number): BootRegs {
  return {
    rip: BigInt(entry),
    rsi: BigInt(ZERO_PAGE_ADDR),
    rsp: BigInt(BOOT_STACK_ADDR),
    rbp: BigInt(BOOT_STACK_ADDR),
    rflags: 2n, // bit 1 is always set
  };
}
