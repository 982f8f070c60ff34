/**
 * The e820 memory map handed to the kernel in `boot_params`: which guest-physical ranges are RAM
 * it may use and which are reserved. Built from the RAM ranges and the ranges the boot code
 * claims (the MP table), so it needs no guest memory and can describe any VM size.
 *
 * @module
 */

import { EBDA_ADDR, HIGH_MEM_START, LOW_MEM_END, type RamRange } from "../memory/layout.ts";

/** e820 range types. */
export const E820_TYPE = { RAM: 1, RESERVED: 2 } as const;
/** Most entries `boot_params` holds. */
export const E820_MAX_ENTRIES = 128;

/** One e820 range. */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

interface Span {
  start: number;
  end: number;
}

function subtract(spans: Span[], cut: Span): Span[] {
  return spans.flatMap((s) => {
    if (cut.end <= s.start || cut.start >= s.end) return [s];
    const out: Span[] = [];
    if (s.start < cut.start) out.push({ start: s.start, end: cut.start });
    if (cut.end < s.end) out.push({ start: cut.end, end: s.end });
    return out;
  });
}

function merge(spans: Span[]): Span[] {
  const out: Span[] = [];
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last !== undefined && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/**
 * The e820 map for `ram` (as {@link ramRanges} gives it): RAM below the EBDA and from 1 MiB up to
 * the end of each range; the EBDA KiB and every `reserved` range marked reserved; the legacy
 * VGA/BIOS area (640 KiB - 1 MiB) and the MMIO hole left out.
 *
 * @example
 * ```ts
 * e820Map(ramRanges(256 * 2 ** 20));
 * // [{ addr: 0, size: 0x9fc00, type: 1 }, { addr: 0x9fc00, size: 0x400, type: 2 },
 * //  { addr: 0x100000, size: 0xff00000, type: 1 }]
 * ```
 */
export function e820Map(
  ram: readonly RamRange[],
  reserved: readonly { addr: number; size: number }[] = [],
): E820Entry[] {
  const claimed = merge([
    { start: EBDA_ADDR, end: LOW_MEM_END },
    ...reserved.filter((r) => r.size > 0).map((r) => ({ start: r.addr, end: r.addr + r.size })),
  ]);
  let usable: Span[] = ram.map((r) => ({ start: r.guestAddr, end: r.guestAddr + r.size }));
  for (const cut of [{ start: EBDA_ADDR, end: HIGH_MEM_START }, ...claimed]) {
    usable = subtract(usable, cut);
  }
  const entries = [
    ...usable.map((s) => ({ addr: s.start, size: s.end - s.start, type: E820_TYPE.RAM })),
    ...claimed.map((s) => ({ addr: s.start, size: s.end - s.start, type: E820_TYPE.RESERVED })),
  ].filter((e) => e.size > 0).sort((a, b) => a.addr - b.addr);
  if (entries.length > E820_MAX_ENTRIES) {
    throw new Error(`The e820 map needs ${entries.length} entries; boot_params holds 128`);
  }
  return entries;
}
