/**
 * The layout of the Linux x86 `struct setup_header` (Documentation/arch/x86/boot.rst). The header
 * sits at the same offsets in a bzImage file and in `struct boot_params`, so one table serves
 * the bzImage parser and the zero-page writer.
 *
 * @example
 * ```ts
 * import { SETUP_HEADER } from "./setup_header.ts";
 * SETUP_HEADER.CMD_LINE_PTR; // 0x228
 * ```
 * @module
 */

/** Offsets of setup-header fields, valid both in a bzImage and in `boot_params`. */
export const SETUP_HEADER = {
  /** First byte of the header (setup_sects). */
  START: 0x1f1,
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  BOOT_FLAG: 0x1fe,
  /** A two-byte short jump; its displacement byte gives the end of the header. */
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
  /** Smallest header end of protocol 2.12 (init_size and handover_offset included). */
  MIN_END: 0x268,
  /** `boot_params` keeps other fields from here on, so no header may reach past it. */
  MAX_END: 0x290,
} as const;

/** "HdrS" read as a little-endian u32. */
export const HDRS_MAGIC = 0x5372_6448;
/** The boot-sector signature at {@link SETUP_HEADER.BOOT_FLAG}. */
export const BOOT_FLAG_MAGIC = 0xaa55;
/** Oldest boot protocol denovmm accepts: 2.12 brought xloadflags and the 64-bit entry flag. */
export const MIN_BOOT_PROTOCOL = 0x020c;

/** loadflags: the protected-mode code is loaded at 0x100000. */
export const LOADED_HIGH = 0x01;
/** loadflags: heap_end_ptr is valid (only the real-mode setup code uses that heap). */
export const CAN_USE_HEAP = 0x80;
/** xloadflags: the kernel has a 64-bit entry point at load address + 0x200. */
export const XLF_KERNEL_64 = 0x01;
/** xloadflags: kernel, boot_params, command line and initrd may live above 4 GiB. */
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;
/** type_of_loader value of a boot loader with no assigned id. */
export const LOADER_TYPE_UNDEFINED = 0xff;

/**
 * A boot protocol version as people write it: 0x020a is "2.10".
 *
 * @example
 * ```ts
 * protocolVersionString(0x020c); // "2.12"
 * ```
 */
export function protocolVersionString(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, "0")}`;
}
