/**
 * The identity map the boot vCPU starts with: long mode needs paging on, so the first
 * {@link IDENTITY_MAP_GIB} GiB are mapped 1:1 with 2 MiB pages. The kernel replaces these tables
 * with its own early in startup_64.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { IDENTITY_MAP_GIB, PD_ADDR, PDPT_ADDR, PML4_ADDR } from "../memory/layout.ts";

/** Page-table entry bits. */
export const PTE = { PRESENT: 1n, WRITABLE: 2n, PAGE_SIZE: 0x80n } as const;

/**
 * Writes PML4, PDPT and page directories; returns the CR3 value.
 *
 * @example
 * ```ts
 * const cr3 = writeIdentityMap(mem); // 0x9000n
 * ```
 */
export function writeIdentityMap(mem: GuestMemory): bigint {
  const table = PTE.PRESENT | PTE.WRITABLE;
  mem.slice(PML4_ADDR, 4096).fill(0);
  mem.slice(PDPT_ADDR, 4096).fill(0);
  mem.writeU64(PML4_ADDR, BigInt(PDPT_ADDR) | table);
  for (let g = 0; g < IDENTITY_MAP_GIB; g++) {
    const pd = PD_ADDR + g * 4096;
    mem.writeU64(PDPT_ADDR + g * 8, BigInt(pd) | table);
    for (let i = 0; i < 512; i++) {
      const phys = (BigInt(g) << 30n) | (BigInt(i) << 21n);
      mem.writeU64(pd + i * 8, phys | table | PTE.PAGE_SIZE);
    }
  }
  return BigInt(PML4_ADDR);
}
