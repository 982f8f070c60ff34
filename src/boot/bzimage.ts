/**
 * bzImage parsing and loading per the Linux x86 boot protocol (Documentation/arch/x86/boot.rst).
 * The setup header is validated and kept for `boot_params`; the protected-mode part (everything
 * after the real-mode setup sectors) is copied to {@link HIGH_MEM_START}, and denovmm enters it
 * through the 64-bit entry point at load address + 0x200, skipping the real-mode code.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { HIGH_MEM_START } from "../memory/layout.ts";
import { BootPlacementError } from "./boot_placement_error.ts";
import {
  BOOT_FLAG_MAGIC,
  HDRS_MAGIC,
  LOADED_HIGH,
  MIN_BOOT_PROTOCOL,
  protocolVersionString,
  SETUP_HEADER,
  XLF_KERNEL_64,
} from "./setup_header.ts";

/** Offset of the 64-bit entry point from the protected-mode load address. */
export const BZIMAGE_ENTRY_64_OFFSET = 0x200;
const SECTOR = 512;
const SHORT_JMP = 0xeb;

/** The setup-header fields denovmm uses, already validated. */
export interface BzImageHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  /** Real-mode setup sectors (a header value of 0 already turned into 4). */
  setupSects: number;
  /** File offset of the protected-mode kernel: (setupSects + 1) * 512. */
  setupBytes: number;
  /** Size of the protected-mode kernel in 16-byte paragraphs. */
  syssize: number;
  loadflags: number;
  xloadflags: number;
  /** Alignment the decompressed kernel needs (a power of two). */
  kernelAlignment: number;
  /** Whether the kernel may run at an address other than {@link prefAddress}. */
  relocatable: boolean;
  /** Where the kernel prefers to run (LOAD_PHYSICAL_ADDR, usually 16 MiB). */
  prefAddress: number;
  /** Bytes the kernel needs from its run address before it reads the memory map. */
  initSize: number;
  /** Highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  /** Longest command line the kernel takes, NUL excluded. */
  cmdlineSize: number;
  /** The header bytes from 0x1f1 to its end, to copy into `boot_params`. */
  header: Uint8Array;
}

/** A bzImage copied into guest memory. */
export interface LoadedBzImage {
  header: BzImageHeader;
  /** Where the protected-mode part was copied ({@link HIGH_MEM_START}). */
  loadAddr: number;
  /** Physical address of the 64-bit entry point. */
  entry: number;
  /** Where the decompressed kernel will run. */
  runAddr: number;
  /** First address past everything the kernel uses until it reads the e820 map. */
  end: number;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * True when `image` carries the "HdrS" signature of a Linux x86 kernel image.
 *
 * @example
 * ```ts
 * isBzImage(await Deno.readFile("bzImage")); // true
 * ```
 */
export function isBzImage(image: Uint8Array): boolean {
  return image.length >= SETUP_HEADER.HEADER + 4 &&
    view(image).getUint32(SETUP_HEADER.HEADER, true) === HDRS_MAGIC;
}

/**
 * Parses and validates a bzImage's setup header.
 *
 * @example
 * ```ts
 * const hdr = parseBzImage(await Deno.readFile("bzImage"));
 * hdr.version.toString(16); // "20f"
 * ```
 */
export function parseBzImage(image: Uint8Array): BzImageHeader {
  if (!isBzImage(image)) throw new Error("Not a bzImage: no HdrS signature at 0x202");
  if (image.length < SETUP_HEADER.MIN_END) {
    throw new Error("bzImage is truncated inside its setup header");
  }
  const v = view(image);
  const version = v.getUint16(SETUP_HEADER.VERSION, true);
  if (version < MIN_BOOT_PROTOCOL) {
    throw new Error(
      `Kernel boot protocol ${protocolVersionString(version)} is too old: denovmm needs ` +
        `${protocolVersionString(MIN_BOOT_PROTOCOL)} or newer`,
    );
  }
  const headerEnd = headerEndOf(image);
  if (v.getUint16(SETUP_HEADER.BOOT_FLAG, true) !== BOOT_FLAG_MAGIC) {
    throw new Error("Not a bzImage: no 0xAA55 boot flag at 0x1fe");
  }
  const xloadflags = v.getUint16(SETUP_HEADER.XLOADFLAGS, true);
  if ((xloadflags & XLF_KERNEL_64) === 0) {
    throw new Error(
      "This bzImage has no 64-bit entry point (XLF_KERNEL_64 is clear in xloadflags): " +
        "denovmm boots 64-bit x86 kernels only",
    );
  }
  const loadflags = v.getUint8(SETUP_HEADER.LOADFLAGS);
  if ((loadflags & LOADED_HIGH) === 0) {
    throw new Error("This is a zImage (LOADED_HIGH is clear): denovmm needs a bzImage");
  }
  const setupSects = v.getUint8(SETUP_HEADER.SETUP_SECTS) || 4; // 0 means 4, for old tools
  const setupBytes = (setupSects + 1) * SECTOR;
  const syssize = v.getUint32(SETUP_HEADER.SYSSIZE, true);
  const pmBytes = image.length - setupBytes;
  // syssize is rounded up to 16-byte paragraphs, so the file may be up to 15 bytes shorter.
  if (pmBytes <= BZIMAGE_ENTRY_64_OFFSET || pmBytes + 15 < syssize * 16) {
    throw new Error(
      `bzImage is truncated: ${Math.max(pmBytes, 0)} bytes follow the ${setupSects} setup ` +
        `sectors, but the header announces ${syssize * 16}`,
    );
  }
  const relocatable = v.getUint8(SETUP_HEADER.RELOCATABLE_KERNEL) !== 0;
  const kernelAlignment = v.getUint32(SETUP_HEADER.KERNEL_ALIGNMENT, true);
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    throw new Error(
      `bzImage kernel_alignment 0x${kernelAlignment.toString(16)} is not a power of 2`,
    );
  }
  const prefAddress = v.getBigUint64(SETUP_HEADER.PREF_ADDRESS, true);
  if (prefAddress > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`bzImage pref_address 0x${prefAddress.toString(16)} is impossible`);
  }
  return {
    version,
    setupSects,
    setupBytes,
    syssize,
    loadflags,
    xloadflags,
    kernelAlignment,
    relocatable,
    prefAddress: Number(prefAddress),
    initSize: v.getUint32(SETUP_HEADER.INIT_SIZE, true),
    initrdAddrMax: v.getUint32(SETUP_HEADER.INITRD_ADDR_MAX, true),
    cmdlineSize: v.getUint32(SETUP_HEADER.CMDLINE_SIZE, true),
    header: image.slice(SETUP_HEADER.START, headerEnd),
  };
}

// The header ends where the short jump at 0x200 lands (boot.rst: 0x0202 + byte at 0x0201).
function headerEndOf(image: Uint8Array): number {
  if (image[SETUP_HEADER.JUMP] !== SHORT_JMP) {
    throw new Error("Not a bzImage: no short jump at 0x200 to delimit the setup header");
  }
  const end = SETUP_HEADER.JUMP + 2 + image[SETUP_HEADER.JUMP + 1];
  if (end < SETUP_HEADER.MIN_END || end > SETUP_HEADER.MAX_END) {
    throw new Error(
      `bzImage setup header ends at 0x${end.toString(16)}, outside 0x${
        SETUP_HEADER.MIN_END.toString(16)
      }..0x${SETUP_HEADER.MAX_END.toString(16)} where protocol 2.12+ headers end`,
    );
  }
  if (end > image.length) throw new Error("bzImage is truncated inside its setup header");
  return end;
}

/**
 * Where the decompressor will put the kernel: a relocatable kernel runs at its load address
 * rounded up to kernel_alignment but never below pref_address; any other runs at pref_address.
 *
 * @example
 * ```ts
 * kernelRunAddress(parseBzImage(image), 0x100000); // 0x1000000 for a usual kernel
 * ```
 */
export function kernelRunAddress(hdr: BzImageHeader, loadAddr: number): number {
  if (!hdr.relocatable) return hdr.prefAddress;
  const a = hdr.kernelAlignment;
  return Math.max(Math.ceil(loadAddr / a) * a, hdr.prefAddress);
}

/**
 * Copies the protected-mode kernel to {@link HIGH_MEM_START}. Throws a
 * {@link BootPlacementError} when RAM cannot hold the kernel while it decompresses.
 *
 * @example
 * ```ts
 * const { entry, end } = loadBzImage(mem, await Deno.readFile("bzImage"));
 * ```
 */
export function loadBzImage(mem: GuestMemory, image: Uint8Array): LoadedBzImage {
  const header = parseBzImage(image);
  const pm = image.subarray(header.setupBytes);
  const loadAddr = HIGH_MEM_START;
  const runAddr = kernelRunAddress(header, loadAddr);
  const end = Math.max(loadAddr + pm.length, runAddr + header.initSize);
  if (!mem.contains(loadAddr, end - loadAddr)) {
    throw BootPlacementError.outsideRam(
      mem,
      "The bzImage kernel (loaded, then decompressed)",
      loadAddr,
      end - loadAddr,
    );
  }
  mem.write(loadAddr, pm);
  return { header, loadAddr, entry: loadAddr + BZIMAGE_ENTRY_64_OFFSET, runAddr, end };
}
