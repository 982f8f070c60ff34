/**
 * `struct boot_params`, the "zero page" of the Linux x86 boot protocol
 * (Documentation/arch/x86/zero-page.rst): setup header, initrd, command line and the e820 memory
 * map the kernel builds its view of RAM from.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { EBDA_ADDR, HIGH_MEM_START, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import { HDRS_MAGIC, LOADED_HIGH, SETUP_HEADER } from "./bzimage.ts";
import type { LoadedInitrd, LoadedKernel } from "./kernel_loader.ts";

/** Offsets in `boot_params` outside the setup header. */
export const BOOT_PARAMS = {
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  E820_TABLE: 0x2d0,
  SIZE: 4096,
} as const;
/** Bytes of one e820 entry (u64 addr, u64 size, u32 type). */
export const E820_ENTRY_SIZE = 20;
/** Most e820 entries boot_params holds. */
export const E820_MAX_ENTRIES = 128;
/** e820 types. */
export const E820 = { RAM: 1, RESERVED: 2 } as const;

/** One e820 range. */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/**
 * The e820 map of a denovmm guest: low RAM up to the EBDA, the EBDA/VGA/BIOS area (MP table
 * included) reserved, then RAM from 1 MiB to the end of each region.
 *
 * @example
 * ```ts
 * e820Map(mem); // [{ addr: 0, size: 0x9fc00, type: 1 }, ...]
 * ```
 */
export function e820Map(mem: GuestMemory): E820Entry[] {
  const out: E820Entry[] = [
    { addr: 0, size: EBDA_ADDR, type: E820.RAM },
    { addr: EBDA_ADDR, size: HIGH_MEM_START - EBDA_ADDR, type: E820.RESERVED },
  ];
  for (const r of mem.regions) {
    const start = Math.max(r.guestAddr, HIGH_MEM_START);
    const end = r.guestAddr + r.bytes.byteLength;
    if (end > start) out.push({ addr: start, size: end - start, type: E820.RAM });
  }
  return out;
}

/** What goes into the zero page. */
export interface ZeroPageParams {
  kernel: LoadedKernel;
  initrd?: LoadedInitrd;
  cmdlineAddr: number;
  cmdlineSize: number;
}

/**
 * Writes `boot_params` at {@link ZERO_PAGE_ADDR}.
 *
 * @example
 * ```ts
 * writeZeroPage(mem, { kernel, initrd, cmdlineAddr: CMDLINE_ADDR, cmdlineSize: 40 });
 * ```
 */
export function writeZeroPage(mem: GuestMemory, p: ZeroPageParams): void {
  const zp = ZERO_PAGE_ADDR;
  mem.slice(zp, BOOT_PARAMS.SIZE).fill(0);
  if (p.kernel.setupHeader) {
    mem.write(zp + SETUP_HEADER.START, p.kernel.setupHeader);
  } else {
    // An ELF vmlinux has no setup header: write the fields the 64-bit entry reads.
    mem.writeU16(zp + SETUP_HEADER.BOOT_FLAG, 0xaa55);
    mem.writeU32(zp + SETUP_HEADER.HEADER, HDRS_MAGIC);
    mem.writeU16(zp + SETUP_HEADER.VERSION, 0x020c);
    mem.writeU32(zp + SETUP_HEADER.KERNEL_ALIGNMENT, 0x100_0000);
    mem.writeU32(zp + SETUP_HEADER.INITRD_ADDR_MAX, p.kernel.initrdAddrMax >>> 0);
  }
  mem.writeU8(zp + SETUP_HEADER.TYPE_OF_LOADER, 0xff); // "undefined" boot loader
  mem.writeU8(zp + SETUP_HEADER.LOADFLAGS, mem.readU8(zp + SETUP_HEADER.LOADFLAGS) | LOADED_HIGH);
  mem.writeU32(zp + SETUP_HEADER.CMD_LINE_PTR, p.cmdlineAddr);
  mem.writeU32(zp + SETUP_HEADER.CMDLINE_SIZE, p.cmdlineSize);
  if (p.initrd) {
    mem.writeU32(zp + SETUP_HEADER.RAMDISK_IMAGE, p.initrd.addr % 2 ** 32);
    mem.writeU32(zp + SETUP_HEADER.RAMDISK_SIZE, p.initrd.size % 2 ** 32);
    mem.writeU32(zp + BOOT_PARAMS.EXT_RAMDISK_IMAGE, Math.floor(p.initrd.addr / 2 ** 32));
    mem.writeU32(zp + BOOT_PARAMS.EXT_RAMDISK_SIZE, Math.floor(p.initrd.size / 2 ** 32));
  }
  const map = e820Map(mem);
  if (map.length > E820_MAX_ENTRIES) throw new Error("Too many e820 entries");
  mem.writeU8(zp + BOOT_PARAMS.E820_ENTRIES, map.length);
  map.forEach((e, i) => {
    const o = zp + BOOT_PARAMS.E820_TABLE + i * E820_ENTRY_SIZE;
    mem.writeU64(o, BigInt(e.addr));
    mem.writeU64(o + 8, BigInt(e.size));
    mem.writeU32(o + 16, e.type);
  });
}
