/**
 * `struct boot_params`, the "zero page" of the Linux x86 boot protocol
 * (Documentation/arch/x86/zero-page.rst): the setup header, where the command line and initrd
 * are, and the e820 memory map the kernel builds its view of RAM from.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { type RamRange, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import { type E820Entry, e820Map } from "./e820.ts";
import type { LoadedInitrd, LoadedKernel } from "./kernel_loader.ts";
import {
  BOOT_FLAG_MAGIC,
  CAN_USE_HEAP,
  HDRS_MAGIC,
  LOADED_HIGH,
  LOADER_TYPE_UNDEFINED,
  MIN_BOOT_PROTOCOL,
  SETUP_HEADER,
} from "./setup_header.ts";

export { SETUP_HEADER } from "./setup_header.ts";

/** Offsets in `boot_params` outside the setup header ({@link SETUP_HEADER} has those). */
export const BOOT_PARAMS = {
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  /** Non-zero tells the kernel a loader copied garbage into boot_params; must stay 0. */
  SENTINEL: 0x1ef,
  /** The setup header (`hdr`). */
  HDR: 0x1f1,
  E820_TABLE: 0x2d0,
  SIZE: 0x1000,
} as const;
/** Bytes of one e820 table entry (u64 addr, u64 size, u32 type). */
export const E820_ENTRY_SIZE = 20;

/**
 * Protocol version written into the header denovmm makes up for an ELF vmlinux (which has no
 * header of its own). The kernel only needs a non-zero version there (x86_64_start_reservations
 * re-copies boot_params when it reads 0); 2.12 is the oldest protocol with the 64-bit entry and
 * the ext_* fields, i.e. exactly what denovmm fills in, so it claims no more than it provides.
 */
export const SYNTHETIC_BOOT_PROTOCOL = MIN_BOOT_PROTOCOL;
/** kernel_alignment written for an ELF vmlinux: 2 MiB, the x86-64 minimum (nothing reads it). */
export const SYNTHETIC_KERNEL_ALIGNMENT = 0x20_0000;

/** What goes into the zero page. */
export interface ZeroPageParams {
  kernel: LoadedKernel;
  initrd?: LoadedInitrd;
  /** Guest-physical address of the NUL-terminated command line. */
  cmdlineAddr: number;
  /** Ranges to mark reserved in the e820 map (the MP table). */
  reserved?: readonly { addr: number; size: number }[];
}

const lo32 = (n: number) => n % 2 ** 32;
const hi32 = (n: number) => Math.floor(n / 2 ** 32);

/**
 * Writes `boot_params` at {@link ZERO_PAGE_ADDR} and returns the e820 map it contains.
 *
 * A bzImage's own setup header is copied in and only the loader-owned fields are changed
 * (cmdline_size is the kernel's to state, so it is left alone); for an ELF vmlinux a minimal
 * header is made up. loadflags get LOADED_HIGH and not CAN_USE_HEAP: heap_end_ptr is only read by
 * the real-mode setup code, which the 64-bit entry skips.
 *
 * @example
 * ```ts
 * writeZeroPage(mem, { kernel, initrd, cmdlineAddr: CMDLINE_ADDR, reserved: [mpTable] });
 * ```
 */
export function writeZeroPage(mem: GuestMemory, p: ZeroPageParams): E820Entry[] {
  const zp = ZERO_PAGE_ADDR;
  mem.slice(zp, BOOT_PARAMS.SIZE).fill(0);
  const hdr = p.kernel.setupHeader;
  if (hdr !== undefined) {
    if (hdr.length > SETUP_HEADER.MAX_END - SETUP_HEADER.START) {
      throw new Error(`A ${hdr.length}-byte setup header does not fit in boot_params`);
    }
    mem.write(zp + SETUP_HEADER.START, hdr);
  } else {
    mem.writeU16(zp + SETUP_HEADER.BOOT_FLAG, BOOT_FLAG_MAGIC);
    mem.writeU32(zp + SETUP_HEADER.HEADER, HDRS_MAGIC);
    mem.writeU16(zp + SETUP_HEADER.VERSION, SYNTHETIC_BOOT_PROTOCOL);
    mem.writeU32(zp + SETUP_HEADER.KERNEL_ALIGNMENT, SYNTHETIC_KERNEL_ALIGNMENT);
    mem.writeU32(zp + SETUP_HEADER.INITRD_ADDR_MAX, p.kernel.initrdAddrMax);
    mem.writeU32(zp + SETUP_HEADER.CMDLINE_SIZE, p.kernel.cmdlineSize);
  }
  mem.writeU8(zp + SETUP_HEADER.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  const loadflags = mem.readU8(zp + SETUP_HEADER.LOADFLAGS);
  mem.writeU8(zp + SETUP_HEADER.LOADFLAGS, (loadflags | LOADED_HIGH) & ~CAN_USE_HEAP);
  mem.writeU32(zp + SETUP_HEADER.CMD_LINE_PTR, lo32(p.cmdlineAddr));
  mem.writeU32(zp + BOOT_PARAMS.EXT_CMD_LINE_PTR, hi32(p.cmdlineAddr));
  if (p.initrd !== undefined) {
    mem.writeU32(zp + SETUP_HEADER.RAMDISK_IMAGE, lo32(p.initrd.addr));
    mem.writeU32(zp + SETUP_HEADER.RAMDISK_SIZE, lo32(p.initrd.size));
    mem.writeU32(zp + BOOT_PARAMS.EXT_RAMDISK_IMAGE, hi32(p.initrd.addr));
    mem.writeU32(zp + BOOT_PARAMS.EXT_RAMDISK_SIZE, hi32(p.initrd.size));
  }

  const ram: RamRange[] = mem.regions.map((r) => ({
    guestAddr: r.guestAddr,
    size: r.bytes.length,
  }));
  const map = e820Map(ram, p.reserved);
  mem.writeU8(zp + BOOT_PARAMS.E820_ENTRIES, map.length);
  map.forEach((e, i) => {
    const o = zp + BOOT_PARAMS.E820_TABLE + i * E820_ENTRY_SIZE;
    mem.writeU64(o, BigInt(e.addr));
    mem.writeU64(o + 8, BigInt(e.size));
    mem.writeU32(o + 16, e.type);
  });
  return map;
}
