import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { IDENTITY_MAP_GIB, PD_ADDR, PDPT_ADDR, PML4_ADDR } from "../memory/layout.ts";
import { pageTablesEnd, writeIdentityMap } from "./page_tables.ts";

const MiB = 2 ** 20;

Deno.test("identity map: PML4 -> PDPT -> PDs, 2 MiB pages mapping address = virtual", () => {
  const mem = GuestMemory.fromBuffers(16 * MiB);
  mem.slice(PML4_ADDR, pageTablesEnd() - PML4_ADDR).fill(0xff); // stale entries must go
  assert.equal(writeIdentityMap(mem), BigInt(PML4_ADDR));
  assert.equal(mem.readU64(PML4_ADDR), BigInt(PDPT_ADDR) | 0x3n); // P | RW
  for (let i = 1; i < 512; i++) assert.equal(mem.readU64(PML4_ADDR + 8 * i), 0n);
  for (let g = 0; g < IDENTITY_MAP_GIB; g++) {
    assert.equal(mem.readU64(PDPT_ADDR + 8 * g), BigInt(PD_ADDR + 4096 * g) | 0x3n);
  }
  for (let g = IDENTITY_MAP_GIB; g < 512; g++) assert.equal(mem.readU64(PDPT_ADDR + 8 * g), 0n);
  // Page k of the whole map (PD pages are consecutive) maps physical k * 2 MiB, P | RW | PS.
  for (let k = 0; k < IDENTITY_MAP_GIB * 512; k++) {
    assert.equal(mem.readU64(PD_ADDR + 8 * k), (BigInt(k) << 21n) | 0x83n);
  }
  assert.equal(mem.readU64(PD_ADDR + 4096 * 3 + 8 * 511), 0xffe0_0000n | 0x83n);
  assert.equal(pageTablesEnd(), PD_ADDR + IDENTITY_MAP_GIB * 4096);
});
