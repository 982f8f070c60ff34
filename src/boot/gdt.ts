/**
 * The boot GDT and the long-mode register state of the boot vCPU, per the 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): 64-bit mode with paging on, a GDT with flat 4 GiB
 * descriptors for __BOOT_CS (0x10, execute/read) and __BOOT_DS (0x18, read/write), CS = 0x10,
 * DS = ES = SS = 0x18, interrupts off, RSI = boot_params. The kernel loads its own GDT and IDT
 * right away; these only have to be valid until then.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { BOOT_STACK_ADDR, GDT_ADDR, IDT_ADDR } from "../memory/layout.ts";
import { encodeDescriptor, type Segment } from "./segment_descriptor.ts";

export type { Segment } from "./segment_descriptor.ts";

/** Selectors of the boot GDT (0x08 stays null, as in the kernel's own boot GDT). */
export const BOOT_SELECTOR = { CODE: 0x10, DATA: 0x18, TSS: 0x20 } as const;
/** Bytes of the boot GDT: null, unused, code, data, and a 16-byte TSS descriptor. */
export const GDT_SIZE = 0x30;
/** Bytes of the boot IDT: one not-present 16-byte gate. */
export const IDT_SIZE = 16;
/** Smallest 64-bit TSS (104 bytes), as the TR limit. */
const TSS_LIMIT = 0x67;

/** CR0 bits set at boot. */
export const CR0 = { PE: 1n, ET: 0x10n, NE: 0x20n, PG: 0x8000_0000n } as const;
/** CR4 bits set at boot. */
export const CR4 = { PAE: 0x20n } as const;
/** EFER bits set at boot. */
export const EFER = { LME: 0x100n, LMA: 0x400n } as const;
/** RFLAGS bit 1 is reserved and always reads 1; IF stays clear (interrupts off). */
export const RFLAGS_RESERVED = 2n;

/** A descriptor-table register (GDTR/IDTR). */
export interface DescriptorTable {
  base: bigint;
  limit: number;
}

/** Segment and control registers for the boot vCPU (the fields of `kvm_sregs` denovmm sets). */
export interface BootSregs {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

/** General registers for the boot vCPU (the fields of `kvm_regs` denovmm sets). */
export interface BootRegs {
  rip: bigint;
  rsi: bigint;
  rsp: bigint;
  rbp: bigint;
  rflags: bigint;
}

const flat = (selector: number, type: number, l: number, db: number): Segment => ({
  base: 0n,
  limit: 0xffff_ffff,
  selector,
  type,
  present: 1,
  dpl: 0,
  db,
  s: 1,
  l,
  g: 1,
  avl: 0,
  unusable: 0,
});

/**
 * The boot segments. Code and data have their accessed bit set so the CPU never needs to write
 * it back into the GDT; the TSS is marked busy, as long mode requires of a loaded TR. The TSS
 * itself is never consulted: nothing changes privilege level before the kernel loads its own TR.
 *
 * @example
 * ```ts
 * bootSegments().code.selector; // 0x10
 * ```
 */
export function bootSegments(): { code: Segment; data: Segment; tss: Segment; ldt: Segment } {
  return {
    code: flat(BOOT_SELECTOR.CODE, 0xb, 1, 0), // execute/read, accessed; L=1 requires D=0
    data: flat(BOOT_SELECTOR.DATA, 0x3, 0, 1), // read/write, accessed
    tss: {
      base: 0n,
      limit: TSS_LIMIT,
      selector: BOOT_SELECTOR.TSS,
      type: 0xb, // busy 64-bit TSS
      present: 1,
      dpl: 0,
      db: 0,
      s: 0,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 0,
    },
    ldt: { ...flat(0, 0x2, 0, 0), s: 0, g: 0, limit: 0xffff, present: 0, unusable: 1 },
  };
}

/**
 * Writes the boot GDT at {@link GDT_ADDR} and an IDT with no usable gate at {@link IDT_ADDR} (an
 * exception before the kernel has its own IDT escalates to a triple fault, i.e. a shutdown exit).
 *
 * @example
 * ```ts
 * const { gdt, idt } = writeGdt(mem); // gdt.limit === 47
 * ```
 */
export function writeGdt(mem: GuestMemory): { gdt: DescriptorTable; idt: DescriptorTable } {
  const { code, data, tss } = bootSegments();
  mem.slice(GDT_ADDR, GDT_SIZE).fill(0);
  for (const seg of [code, data, tss]) {
    encodeDescriptor(seg).forEach((q, i) => mem.writeU64(GDT_ADDR + seg.selector + 8 * i, q));
  }
  mem.slice(IDT_ADDR, IDT_SIZE).fill(0);
  return {
    gdt: { base: BigInt(GDT_ADDR), limit: GDT_SIZE - 1 },
    idt: { base: BigInt(IDT_ADDR), limit: IDT_SIZE - 1 },
  };
}

/**
 * Segment and control registers for long mode with the identity map at `cr3`: CR0 = PE | ET |
 * NE | PG, CR4 = PAE, EFER = LME | LMA. SCE and NXE stay clear; the kernel sets them itself.
 *
 * @example
 * ```ts
 * const sregs = bootSregs(writeIdentityMap(mem));
 * sregs.cr0; // 0x80000031n
 * ```
 */
export function bootSregs(cr3: bigint): BootSregs {
  const { code, data, tss, ldt } = bootSegments();
  return {
    cs: code,
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: tss,
    ldt,
    gdt: { base: BigInt(GDT_ADDR), limit: GDT_SIZE - 1 },
    idt: { base: BigInt(IDT_ADDR), limit: IDT_SIZE - 1 },
    cr0: CR0.PE | CR0.ET | CR0.NE | CR0.PG,
    cr3,
    cr4: CR4.PAE,
    efer: EFER.LME | EFER.LMA,
  };
}

/**
 * General registers for the 64-bit entry: RIP at `entry`, RSI at the zero page, a small stack
 * below the page tables, RBP 0 (no caller frame), RFLAGS with only the reserved bit.
 *
 * @example
 * ```ts
 * bootRegs(0x1000000, ZERO_PAGE_ADDR).rsi; // 0x7000n
 * ```
 */
export function bootRegs(entry: number, zeroPage: number): BootRegs {
  return {
    rip: BigInt(entry),
    rsi: BigInt(zeroPage),
    rsp: BigInt(BOOT_STACK_ADDR),
    rbp: 0n,
    rflags: RFLAGS_RESERVED,
  };
}
