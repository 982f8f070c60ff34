/**
 * Guest RAM: anonymous host mappings laid out around the MMIO hole, registered as KVM memory
 * slots, and exposed as a {@link GuestMemory}.
 *
 * @module
 */

import { errno, ErrnoError } from "../../ffi/errno.ts";
import type { Vm } from "../../ffi/kvm.ts";
import {
  libc,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "../../ffi/libc.ts";
import { GuestMemory } from "../memory/guest_memory.ts";
import { ramRanges } from "../memory/layout.ts";

/** Guest RAM plus the host mappings behind it. */
export interface GuestRam extends Disposable {
  readonly memory: GuestMemory;
}

/**
 * Maps `memBytes` of guest RAM and registers it with the VM (one slot per range).
 *
 * @example
 * ```ts
 * using ram = allocateGuestRam(vm, 256 * 2 ** 20);
 * ram.memory.writeU8(0x1000, 0xf4);
 * ```
 */
export function allocateGuestRam(vm: Vm, memBytes: number): GuestRam {
  const maps: { p: Deno.PointerObject; size: number }[] = [];
  const free = () => {
    for (const m of maps.splice(0)) libc.symbols.munmap(m.p, BigInt(m.size));
  };
  try {
    const regions = ramRanges(memBytes).map((r, slot) => {
      // MAP_NORESERVE: guest RAM is touched lazily, like every VMM's; nothing is committed up front.
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
        throw new ErrnoError(`mmap of ${r.size >> 20} MiB guest RAM`, errno());
      }
      maps.push({ p, size: r.size });
      libc.symbols.madvise(p, BigInt(r.size), MADV_HUGEPAGE); // best effort: fewer TLB misses
      vm.setUserMemoryRegion({
        slot,
        flags: 0,
        guestPhysAddr: BigInt(r.guestAddr),
        memorySize: BigInt(r.size),
        userspaceAddr: addr,
      });
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
