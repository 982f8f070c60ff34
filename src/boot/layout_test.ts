import assert from "node:assert/strict";
import {
  BOOT_STACK_ADDR,
  CMDLINE_ADDR,
  CMDLINE_MAX,
  EBDA_ADDR,
  GDT_ADDR,
  HIGH_MEM_START,
  IDT_ADDR,
  LOW_MEM_END,
  PD_ADDR,
  PDPT_ADDR,
  PML4_ADDR,
  ZERO_PAGE_ADDR,
} from "../memory/layout.ts";
import { GDT_SIZE, IDT_SIZE } from "./gdt.ts";
import { MPTABLE_MAX_CPUS, mpTableRange } from "./mptable.ts";
import { pageTablesEnd } from "./page_tables.ts";
import { BOOT_PARAMS } from "./zero_page.ts";

// Everything denovmm writes below 1 MiB, with the MP table at its largest.
const mp = mpTableRange(MPTABLE_MAX_CPUS);
const structures: [string, number, number][] = [
  ["GDT", GDT_ADDR, GDT_ADDR + GDT_SIZE],
  ["IDT", IDT_ADDR, IDT_ADDR + IDT_SIZE],
  ["zero page", ZERO_PAGE_ADDR, ZERO_PAGE_ADDR + BOOT_PARAMS.SIZE],
  ["boot stack page", BOOT_STACK_ADDR & ~0xfff, (BOOT_STACK_ADDR & ~0xfff) + 0x1000],
  ["PML4", PML4_ADDR, PML4_ADDR + 0x1000],
  ["PDPT", PDPT_ADDR, PDPT_ADDR + 0x1000],
  ["page directories", PD_ADDR, pageTablesEnd()],
  ["command line", CMDLINE_ADDR, CMDLINE_ADDR + CMDLINE_MAX],
  ["MP table", mp.addr, mp.addr + mp.size],
];

Deno.test("boot structures do not overlap each other", () => {
  for (const [i, [a, as, ae]] of structures.entries()) {
    for (const [b, bs, be] of structures.slice(i + 1)) {
      assert.ok(
        ae <= bs || be <= as,
        `${a} [0x${as.toString(16)}, 0x${ae.toString(16)}) overlaps ${b}`,
      );
    }
  }
});

Deno.test("boot structures stay in conventional memory, clear of the IVT/BDA and the kernel", () => {
  for (const [name, start, end] of structures) {
    assert.ok(start >= 0x500, `${name} is inside the real-mode IVT/BIOS data area`);
    assert.ok(end <= LOW_MEM_END, `${name} reaches into the VGA hole`);
    assert.ok(end <= HIGH_MEM_START, `${name} reaches the kernel`);
    if (name !== "MP table") assert.ok(end <= EBDA_ADDR - 0x1000, `${name} is near the EBDA`);
  }
  // The stack grows down from BOOT_STACK_ADDR into its own page only.
  assert.ok(BOOT_STACK_ADDR > ZERO_PAGE_ADDR + BOOT_PARAMS.SIZE);
  assert.ok(BOOT_STACK_ADDR <= PML4_ADDR);
});
