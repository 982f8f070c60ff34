/**
 * The identity map the boot vCPU starts with: long mode needs paging on, so the first
 * {@link IDENTITY_MAP_GIB} GiB are mapped 1:1 with 2 MiB pages (one PML4 entry, one PDPT entry
 * per GiB, one page directory per GiB). The kernel switches to its own tables early in
 * startup_64; until then this map must cover the kernel, boot_params, the command line and the
 * initrd, all of which denovmm places below the MMIO hole.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { IDENTITY_MAP_GIB, PD_ADDR, PDPT_ADDR, PML4_ADDR } from "../memory/layout.ts";

/** Page-table entry bits used here. */
export const PTE = { PRESENT: 1n, WRITABLE: 2n, PAGE_SIZE: 0x80n } as const;
/** Bytes of one page-table page. */
export const PAGE_TABLE_SIZE = 4096;
const ENTRIES = 512;

/**
 * First address past the page directories ({@link PD_ADDR} plus one page per GiB).
 *
 * @example
 * ```ts
 * pageTablesEnd(); // 0xf000 with a 4 GiB map
 * ```
 */
export function pageTablesEnd(): number {
  return PD_ADDR + IDENTITY_MAP_GIB * PAGE_TABLE_SIZE;
}

/**
 * Writes PML4, PDPT and page directories; returns the CR3 value (the PML4's address).
 *
 * @example
 * ```ts
 * const cr3 = writeIdentityMap(mem); // 0x9000n
 * ```
 */
export function writeIdentityMap(mem: GuestMemory): bigint {
  if (IDENTITY_MAP_GIB < 1 || IDENTITY_MAP_GIB > ENTRIES) {
    throw new Error(`IDENTITY_MAP_GIB must be 1..${ENTRIES} for one PDPT`);
  }
  const table = PTE.PRESENT | PTE.WRITABLE;
  mem.slice(PML4_ADDR, PAGE_TABLE_SIZE).fill(0);
  mem.slice(PDPT_ADDR, PAGE_TABLE_SIZE).fill(0);
  mem.writeU64(PML4_ADDR, BigInt(PDPT_ADDR) | table);
  for (let gib = 0; gib < IDENTITY_MAP_GIB; gib++) {
    const pd = PD_ADDR + gib * PAGE_TABLE_SIZE;
    mem.writeU64(PDPT_ADDR + gib * 8, BigInt(pd) | table);
    for (let i = 0; i < ENTRIES; i++) {
      const page = (BigInt(gib) << 30n) | (BigInt(i) << 21n);
      mem.writeU64(pd + i * 8, page | table | PTE.PAGE_SIZE);
    }
  }
  return BigInt(PML4_ADDR);
}
