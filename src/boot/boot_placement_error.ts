/**
 * The error thrown when a kernel, initrd or boot structure does not fit in guest RAM. It is a
 * {@link GuestMemoryError} (callers that already handle bad guest addresses keep working) with a
 * message that says what did not fit and what to do about it.
 *
 * @module
 */

import { type GuestMemory, GuestMemoryError } from "../memory/guest_memory.ts";
import { MMIO_HOLE_START } from "../memory/layout.ts";

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * The RAM layout of `mem` in words, e.g. "0x0-0x10000000".
 *
 * @example
 * ```ts
 * describeRam(GuestMemory.fromBuffers(2 ** 20)); // "0x0-0x100000"
 * ```
 */
export function describeRam(mem: GuestMemory): string {
  const parts = mem.regions.map((r) => `${hex(r.guestAddr)}-${hex(r.guestAddr + r.bytes.length)}`);
  return parts.length === 0 ? "none" : parts.join(" and ");
}

/**
 * A boot image or structure that is not inside guest RAM.
 *
 * @example
 * ```ts
 * try {
 *   loadKernel(mem, image);
 * } catch (e) {
 *   if (e instanceof GuestMemoryError) console.error(e.message); // "... give the VM more memory"
 * }
 * ```
 */
export class BootPlacementError extends GuestMemoryError {
  /**
   * @example
   * ```ts
   * throw new BootPlacementError(0x1000000, 4096, "initrd does not fit below 16 MiB");
   * ```
   */
  constructor(guestAddr: number, length: number, message: string) {
    super(guestAddr, length);
    this.name = "BootPlacementError";
    this.message = message;
  }

  /**
   * The error for `what` placed at `[guestAddr, guestAddr + length)` outside RAM, with advice.
   *
   * @example
   * ```ts
   * throw BootPlacementError.outsideRam(mem, "Kernel ELF segment 1", 0x1000000, 0x2000000);
   * ```
   */
  static outsideRam(
    mem: GuestMemory,
    what: string,
    guestAddr: number,
    length: number,
  ): BootPlacementError {
    const end = guestAddr + length;
    // Only RAM below the MMIO hole grows with the VM's memory size; the hole itself never does.
    const advice = end <= MMIO_HOLE_START
      ? "give the VM more memory"
      : "it lies outside any RAM denovmm maps";
    return new BootPlacementError(
      guestAddr,
      length,
      `${what} at ${hex(guestAddr)}-${hex(end)} (${length} bytes) is not inside guest RAM ` +
        `(${describeRam(mem)}); ${advice}`,
    );
  }
}
