/**
 * Loads a kernel of either format and places the initrd.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_MAX, MMIO_HOLE_START } from "../memory/layout.ts";
import { isBzImage, loadBzImage } from "./bzimage.ts";
import { isElf, loadElf } from "./elf.ts";

/** A kernel in guest memory. */
export interface LoadedKernel {
  kind: "elf" | "bzimage";
  /** Physical address of the 64-bit entry point. */
  entry: number;
  /** Lowest physical address the kernel occupies. */
  loadAddr: number;
  /** First physical address past what the kernel uses. */
  end: number;
  /** The bzImage setup header (from 0x1f1) for boot_params. */
  setupHeader?: Uint8Array;
  /** Highest address the initrd may end at (inclusive). */
  initrdAddrMax: number;
  /** Longest command line the kernel takes, NUL excluded. */
  cmdlineSize: number;
}

/** A loaded initrd. */
export interface LoadedInitrd {
  addr: number;
  size: number;
}

/**
 * Detects the kernel format and loads it.
 *
 * @example
 * ```ts
 * const k = loadKernel(mem, await Deno.readFile("vmlinux"));
 * ```
 */
export function loadKernel(mem: GuestMemory, image: Uint8Array): LoadedKernel {
  if (isElf(image)) {
    const e = loadElf(mem, image);
    return {
      kind: "elf",
      entry: e.entry,
      loadAddr: e.start,
      end: e.end,
      initrdAddrMax: MMIO_HOLE_START - 1,
      cmdlineSize: CMDLINE_MAX - 1,
    };
  }
  if (isBzImage(image)) {
    const b = loadBzImage(mem, image);
    return {
      kind: "bzimage",
      entry: b.entry,
      loadAddr: 0x100000,
      end: b.end,
      setupHeader: b.info.header,
      initrdAddrMax: b.info.initrdAddrMax,
      cmdlineSize: Math.min(b.info.cmdlineSize, CMDLINE_MAX - 1),
    };
  }
  throw new Error("The kernel image is neither an ELF vmlinux nor a bzImage");
}

/**
 * Places the initrd page-aligned as high as allowed in the first RAM region, above the kernel.
 *
 * @example
 * ```ts
 * const rd = loadInitrd(mem, initrdBytes, kernel);
 * ```
 */
export function loadInitrd(
  mem: GuestMemory,
  image: Uint8Array,
  kernel: LoadedKernel,
): LoadedInitrd {
  const low = mem.regions[0];
  const lowEnd = low.guestAddr + low.bytes.byteLength;
  const limit = Math.min(kernel.initrdAddrMax + 1, lowEnd);
  const addr = Math.floor((limit - image.length) / 4096) * 4096;
  const floor = Math.ceil(kernel.end / 4096) * 4096;
  if (image.length === 0) throw new Error("The initrd is empty");
  if (addr < floor) {
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    throw new Error(
      `The initrd (${mib(image.length)} MiB) does not fit in guest RAM between the kernel's end (${
        mib(floor)
      } MiB) and ${mib(limit)} MiB; give the VM more memory`,
    );
  }
  mem.write(addr, image);
  return { addr, size: image.length };
}
