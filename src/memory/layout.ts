/**
 * The guest-physical address map of a denovmm x86-64 microVM, in one place.
 *
 * Low memory holds the boot structures the VMM writes before the first `KVM_RUN`; the kernel
 * loads at 1 MiB (bzImage) or at its own ELF physical addresses (vmlinux); RAM above
 * {@link MMIO_HOLE_START} is moved past 4 GiB so the 32-bit MMIO window stays free for the
 * IOAPIC, the LAPIC and the virtio-mmio device slots.
 *
 * @example
 * ```ts
 * import { ZERO_PAGE_ADDR } from "./layout.ts";
 * console.log(ZERO_PAGE_ADDR.toString(16)); // "7000"
 * ```
 * @module
 */

/**
 * GDT used for the 64-bit entry: null, unused, code (0x10), data (0x18) and a 16-byte TSS
 * descriptor (0x20), 48 bytes in all.
 */
export const GDT_ADDR = 0x500;
/** An empty IDT, just past the GDT: the kernel installs its own before enabling interrupts. */
export const IDT_ADDR = 0x530;
/** The Linux `boot_params` ("zero page") handed to the kernel in RSI. */
export const ZERO_PAGE_ADDR = 0x7000;
/** Initial stack pointer for the boot vCPU (grows down, below the page tables). */
export const BOOT_STACK_ADDR = 0x8ff0;
/** PML4 of the boot identity map. */
export const PML4_ADDR = 0x9000;
/** PDPT of the boot identity map. */
export const PDPT_ADDR = 0xa000;
/** First page directory of the boot identity map (4 consecutive pages map 4 GiB). */
export const PD_ADDR = 0xb000;
/** How many GiB the boot identity map covers with 2 MiB pages. */
export const IDENTITY_MAP_GIB = 4;
/** Kernel command line (NUL-terminated). */
export const CMDLINE_ADDR = 0x20000;
/** Largest command line denovmm accepts, NUL included. */
export const CMDLINE_MAX = 4096;
/** Start of the Extended BIOS Data Area; the MP floating pointer and table live here. */
export const EBDA_ADDR = 0x9fc00;
/** End of conventional low memory (the VGA/BIOS hole begins here). */
export const LOW_MEM_END = 0xa0000;
/** Where the protected-mode part of a bzImage is loaded (1 MiB). */
export const HIGH_MEM_START = 0x100000;

/** Start of the 32-bit MMIO hole below 4 GiB (768 MiB long). */
export const MMIO_HOLE_START = 0xd000_0000;
/** End (exclusive) of the 32-bit MMIO hole: RAM resumes above 4 GiB. */
export const MMIO_HOLE_END = 0x1_0000_0000;
/** First virtio-mmio device slot; each device gets {@link VIRTIO_MMIO_SLOT_SIZE} bytes. */
export const VIRTIO_MMIO_BASE: number = MMIO_HOLE_START;
/** Size of one virtio-mmio register window. */
export const VIRTIO_MMIO_SLOT_SIZE = 0x1000;
/** The IOAPIC register window (the in-kernel irqchip serves it). */
export const IOAPIC_ADDR = 0xfec0_0000;
/** The local APIC register window (the in-kernel irqchip serves it). */
export const LAPIC_ADDR = 0xfee0_0000;
/** Address given to `KVM_SET_TSS_ADDR` (three pages, inside the MMIO hole, never RAM). */
export const KVM_TSS_ADDR = 0xfffb_d000;
/** Address given to `KVM_SET_IDENTITY_MAP_ADDR` (one page, just below the TSS). */
export const KVM_IDENTITY_MAP_ADDR = 0xfffb_c000;

/** COM1 I/O port base and IRQ, as every PC kernel expects them. */
export const COM1_PORT = 0x3f8;
/** ISA IRQ (and IOAPIC GSI) of COM1. */
export const COM1_IRQ = 4;
/** ISA IRQ of the i8042 keyboard (Ctrl-Alt-Del). */
export const I8042_IRQ = 1;
/** i8042 keyboard controller command/status port; a 0xFE write is the `reboot=k` reset. */
export const I8042_COMMAND_PORT = 0x64;
/** i8042 data port. */
export const I8042_DATA_PORT = 0x60;
/** Lowest IOAPIC GSI handed out to virtio-mmio devices. */
export const VIRTIO_FIRST_GSI = 5;
/** Highest IOAPIC GSI (the in-kernel IOAPIC has 24 pins). */
export const IOAPIC_LAST_GSI = 23;

/** One contiguous guest RAM range. */
export interface RamRange {
  /** Guest-physical start address. */
  readonly guestAddr: number;
  /** Length in bytes. */
  readonly size: number;
}

/**
 * Splits `memBytes` of guest RAM around the 32-bit MMIO hole.
 *
 * @example
 * ```ts
 * ramRanges(256 * 2 ** 20); // [{ guestAddr: 0, size: 268435456 }]
 * ramRanges(4 * 2 ** 30).length; // 2: below the hole and above 4 GiB
 * ```
 */
export function ramRanges(memBytes: number): RamRange[] {
  if (memBytes <= MMIO_HOLE_START) return [{ guestAddr: 0, size: memBytes }];
  return [
    { guestAddr: 0, size: MMIO_HOLE_START },
    { guestAddr: MMIO_HOLE_END, size: memBytes - MMIO_HOLE_START },
  ];
}
