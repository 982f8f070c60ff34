/**
 * Loads a kernel of either format (ELF vmlinux or bzImage) and places the initrd above it.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_MAX, HIGH_MEM_START } from "../memory/layout.ts";
import { BootPlacementError } from "./boot_placement_error.ts";
import { isBzImage, loadBzImage } from "./bzimage.ts";
import { isElf, loadElf } from "./elf.ts";

/**
 * initrd_addr_max assumed for an ELF vmlinux, which has no setup header: the value every
 * 64-bit bzImage declares (2 GiB - 1).
 */
export const ELF_INITRD_ADDR_MAX = 0x7fff_ffff;
/** Longest command line denovmm hands any kernel (NUL excluded): the CMDLINE_MAX buffer. */
export const MAX_CMDLINE_LEN = CMDLINE_MAX - 1;
const PAGE = 4096;

/** A kernel in guest memory. */
export interface LoadedKernel {
  kind: "elf" | "bzimage";
  /** Physical address of the 64-bit entry point. */
  entry: number;
  /** Lowest physical address the kernel occupies. */
  loadAddr: number;
  /** First physical address past what the kernel uses before it reads the e820 map. */
  end: number;
  /** The bzImage setup header bytes (0x1f1 to the header's end) to copy into boot_params. */
  setupHeader?: Uint8Array;
  /** Highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  /** Longest command line the kernel takes, NUL excluded. */
  cmdlineSize: number;
}

/** Where the initrd went. */
export interface LoadedInitrd {
  addr: number;
  size: number;
}

const firstBytes = (b: Uint8Array) =>
  [...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, "0")).join(" ");

/**
 * Detects the kernel format from its magic and loads it.
 *
 * @example
 * ```ts
 * const kernel = loadKernel(mem, await Deno.readFile("vmlinux"));
 * kernel.kind; // "elf"
 * ```
 */
export function loadKernel(mem: GuestMemory, image: Uint8Array): LoadedKernel {
  if (isElf(image)) {
    const elf = loadElf(mem, image);
    return {
      kind: "elf",
      entry: elf.entry,
      loadAddr: elf.start,
      end: elf.end,
      initrdAddrMax: ELF_INITRD_ADDR_MAX,
      cmdlineSize: MAX_CMDLINE_LEN,
    };
  }
  if (isBzImage(image)) {
    const bz = loadBzImage(mem, image);
    return {
      kind: "bzimage",
      entry: bz.entry,
      loadAddr: bz.loadAddr,
      end: bz.end,
      setupHeader: bz.header.header,
      initrdAddrMax: bz.header.initrdAddrMax,
      cmdlineSize: Math.min(bz.header.cmdlineSize, MAX_CMDLINE_LEN),
    };
  }
  const hint = image[0] === 0x1f && image[1] === 0x8b
    ? " (it looks gzip-compressed; pass the uncompressed vmlinux or the bzImage)"
    : "";
  throw new Error(
    `The kernel image is neither an ELF vmlinux nor a bzImage: it starts with ${
      firstBytes(image)
    }${hint}`,
  );
}

const mib = (n: number) => `${+(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * Copies the initrd page-aligned as high as possible in the first RAM region, below the kernel's
 * initrd_addr_max and above the kernel's end (so the decompressor never overwrites it). Throws a
 * {@link BootPlacementError} when it does not fit.
 *
 * @example
 * ```ts
 * const rd = loadInitrd(mem, await Deno.readFile("initramfs.cpio.gz"), kernel);
 * ```
 */
export function loadInitrd(
  mem: GuestMemory,
  image: Uint8Array,
  kernel: LoadedKernel,
): LoadedInitrd {
  if (image.length === 0) throw new Error("The initrd is empty");
  const low = mem.regions[0];
  const lowEnd = low === undefined ? 0 : low.guestAddr + low.bytes.length;
  const ceiling = Math.min(kernel.initrdAddrMax + 1, lowEnd);
  const floor = Math.ceil(Math.max(kernel.end, HIGH_MEM_START) / PAGE) * PAGE;
  const addr = Math.floor((ceiling - image.length) / PAGE) * PAGE;
  if (addr < floor) {
    const limitedBy = ceiling === lowEnd
      ? "give the VM more memory"
      : `this kernel takes an initrd only below ${mib(ceiling)}`;
    throw new BootPlacementError(
      floor,
      image.length,
      `initrd of ${mib(image.length)} does not fit in guest RAM below ${
        mib(ceiling)
      } (above the kernel, which ends at ${mib(floor)}); ${limitedBy}`,
    );
  }
  mem.write(addr, image);
  return { addr, size: image.length };
}
