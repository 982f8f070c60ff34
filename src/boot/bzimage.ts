/**
 * bzImage loading per the Linux x86 boot protocol (Documentation/arch/x86/boot.rst): the setup
 * header is parsed and kept for the zero page, and the protected-mode kernel is copied to 1 MiB;
 * denovmm enters it through the 64-bit entry point at load address + 0x200.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { HIGH_MEM_START } from "../memory/layout.ts";

/** Offsets in the bzImage (and in `boot_params`) of the setup-header fields denovmm reads. */
export const SETUP_HEADER = {
  START: 0x1f1,
  SETUP_SECTS: 0x1f1,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
} as const;

/** "HdrS". */
export const HDRS_MAGIC = 0x5372_6448;
/** Oldest boot protocol with a 64-bit entry and the fields denovmm uses. */
export const MIN_BOOT_PROTOCOL = 0x020c;
/** xloadflags: the kernel has the 64-bit entry at +0x200. */
export const XLF_KERNEL_64 = 1;
/** loadflags: the protected-mode code is loaded at 0x100000. */
export const LOADED_HIGH = 1;

/** What the setup header says. */
export interface BzImageInfo {
  version: number;
  setupBytes: number;
  loadflags: number;
  xloadflags: number;
  initrdAddrMax: number;
  cmdlineSize: number;
  kernelAlignment: number;
  initSize: number;
  /** The header bytes from 0x1f1 to its end, to copy into `boot_params`. */
  header: Uint8Array;
}

/** True when `image` carries the "HdrS" signature. @example `isBzImage(bytes)` */
export function isBzImage(image: Uint8Array): boolean {
  return image.length >= 0x206 &&
    new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(
        SETUP_HEADER.HEADER,
        true,
      ) ===
      HDRS_MAGIC;
}

/**
 * Parses and validates a bzImage's setup header.
 *
 * @example
 * ```ts
 * parseBzImage(await Deno.readFile("bzImage")).version.toString(16); // "20f"
 * ```
 */
export function parseBzImage(image: Uint8Array): BzImageInfo {
  if (!isBzImage(image)) throw new Error("Not a bzImage: no HdrS signature at 0x202");
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x268) throw new Error("bzImage is truncated inside its setup header");
  const version = v.getUint16(SETUP_HEADER.VERSION, true);
  const ver = `${version >> 8}.${(version & 0xff).toString().padStart(2, "0")}`;
  if (version < MIN_BOOT_PROTOCOL) {
    throw new Error(`Kernel boot protocol ${ver} is too old: denovmm needs 2.12 or newer`);
  }
  const xloadflags = v.getUint16(SETUP_HEADER.XLOADFLAGS, true);
  if ((xloadflags & XLF_KERNEL_64) === 0) {
    throw new Error(
      "This bzImage has no 64-bit entry point (XLF_KERNEL_64): denovmm boots 64-bit kernels only",
    );
  }
  const loadflags = v.getUint8(SETUP_HEADER.LOADFLAGS);
  if ((loadflags & LOADED_HIGH) === 0) {
    throw new Error("This bzImage is not a high-loaded (big) kernel");
  }
  const setupSects = v.getUint8(SETUP_HEADER.SETUP_SECTS) || 4;
  const setupBytes = (setupSects + 1) * 512;
  if (setupBytes >= image.length) {
    throw new Error("bzImage is truncated: no protected-mode kernel after setup");
  }
  const headerEnd = SETUP_HEADER.JUMP + 2 + v.getUint8(SETUP_HEADER.JUMP + 1);
  return {
    version,
    setupBytes,
    loadflags,
    xloadflags,
    initrdAddrMax: v.getUint32(SETUP_HEADER.INITRD_ADDR_MAX, true),
    cmdlineSize: v.getUint32(SETUP_HEADER.CMDLINE_SIZE, true),
    kernelAlignment: v.getUint32(SETUP_HEADER.KERNEL_ALIGNMENT, true),
    initSize: v.getUint32(SETUP_HEADER.INIT_SIZE, true),
    header: image.slice(SETUP_HEADER.START, Math.min(headerEnd, image.length)),
  };
}

/**
 * Copies the protected-mode kernel to {@link HIGH_MEM_START}; returns the parsed header, the
 * 64-bit entry and the end of the memory the kernel will use (load address + init_size).
 *
 * @example
 * ```ts
 * const { entry } = loadBzImage(mem, image);
 * ```
 */
export function loadBzImage(
  mem: GuestMemory,
  image: Uint8Array,
): { info: BzImageInfo; entry: number; end: number } {
  const info = parseBzImage(image);
  const pm = image.subarray(info.setupBytes);
  const end = HIGH_MEM_START + Math.max(pm.length, info.initSize);
  if (!mem.contains(HIGH_MEM_START, end - HIGH_MEM_START)) {
    throw new Error(
      `The kernel needs ${(end >> 20) + 1} MiB of guest RAM to decompress; give the VM more memory`,
    );
  }
  mem.write(HIGH_MEM_START, pm);
  return { info, entry: HIGH_MEM_START + 0x200, end };
}
