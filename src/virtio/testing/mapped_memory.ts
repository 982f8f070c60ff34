/**
 * Guest memory backed by anonymous host mappings, as a VM's is, but without KVM: for device
 * tests whose data path needs host addresses (readv/writev into guest RAM).
 *
 * @module
 */

import { errno, ErrnoError } from "../../../ffi/errno.ts";
import {
  libc,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../../ffi/libc.ts";
import { GuestMemory } from "../../memory/guest_memory.ts";
import { ramRanges } from "../../memory/layout.ts";

/** Mapped guest memory; dispose it to unmap. */
export interface MappedMemory extends Disposable {
  readonly memory: GuestMemory;
}

/**
 * Maps `memBytes` of guest RAM with the VM's layout (the MMIO hole included).
 *
 * @example
 * ```ts
 * using m = mappedGuestMemory(4 << 20);
 * m.memory.hostAddressNumber(0x1000, 16);
 * ```
 */
export function mappedGuestMemory(memBytes: number): MappedMemory {
  const maps: { p: Deno.PointerObject; size: number }[] = [];
  const free = () => {
    for (const m of maps.splice(0)) libc.symbols.munmap(m.p, BigInt(m.size));
  };
  try {
    const regions = ramRanges(memBytes).map((r) => {
      const p = libc.symbols.mmap(
        null,
        BigInt(r.size),
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
        -1,
        0n,
      );
      const addr = p === null ? -1n : BigInt(Deno.UnsafePointer.value(p));
      if (p === null || addr === 0xffff_ffff_ffff_ffffn) {
        throw new ErrnoError(`mmap of ${r.size} bytes of test guest memory`, errno());
      }
      maps.push({ p, size: r.size });
      return {
        guestAddr: r.guestAddr,
        bytes: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, r.size)),
        hostAddr: addr,
      };
    });
    return { memory: new GuestMemory(regions), [Symbol.dispose]: free };
  } catch (e) {
    free();
    throw e;
  }
}
