/**
 * Turns a vCPU that stopped on an error into a readable report: its registers and the
 * instruction bytes at RIP (found by walking the guest's own page tables through GuestMemory).
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import type { VcpuState } from "./exit_mailbox.ts";

const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const CR4_LA57 = 1n << 12n;
const EFER_LMA = 1n << 10n;
const PTE_P = 1n;
const PTE_PS = 1n << 7n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

/**
 * Translates a guest-virtual address with the guest's paging mode (none, 4-level or 5-level
 * long mode). Returns undefined when it is not mapped or the tables are not in RAM.
 *
 * @example
 * ```ts
 * const phys = translate(mem, { cr0, cr3, cr4, efer }, rip);
 * ```
 */
export function translate(
  mem: GuestMemory,
  s: { cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint },
  virt: bigint,
): number | undefined {
  if ((s.cr0 & CR0_PG) === 0n) return Number(virt & 0xffff_ffffn);
  if ((s.efer & EFER_LMA) === 0n || (s.cr4 & CR4_PAE) === 0n) return undefined; // 32-bit paging: not used by denovmm guests
  const levels = (s.cr4 & CR4_LA57) !== 0n ? 5 : 4;
  let table = s.cr3 & ADDR_MASK;
  for (let level = levels; level >= 1; level--) {
    const shift = 12n + 9n * BigInt(level - 1);
    const index = (virt >> shift) & 0x1ffn;
    const at = Number(table + index * 8n);
    if (!mem.contains(at, 8)) return undefined;
    const entry = mem.readU64(at);
    if ((entry & PTE_P) === 0n) return undefined;
    if (level <= 3 && level >= 2 && (entry & PTE_PS) !== 0n) {
      const pageMask = (1n << shift) - 1n;
      return Number((entry & ADDR_MASK & ~pageMask) | (virt & pageMask));
    }
    table = entry & ADDR_MASK;
  }
  return Number(table | (virt & 0xfffn));
}

const hex = (v: bigint, width = 16) => v.toString(16).padStart(width, "0");

/**
 * A multi-line report of a stopped vCPU: general registers, control registers and up to 16
 * instruction bytes at RIP.
 *
 * @example
 * ```ts
 * console.error(formatCrashReport(mem, 0, state));
 * ```
 */
export function formatCrashReport(mem: GuestMemory, id: number, state: VcpuState): string {
  const r = state.regs;
  const lines = [`vCPU ${id} registers:`];
  const names = Object.keys(r);
  for (let i = 0; i < names.length; i += 3) {
    lines.push(
      "  " + names.slice(i, i + 3).map((n) => `${n.padStart(6)}=${hex(r[n])}`).join(" "),
    );
  }
  const s = state.sregs;
  lines.push(
    `     cr0=${hex(s.cr0)}    cr3=${hex(s.cr3)}    cr4=${hex(s.cr4)}`,
    `    efer=${hex(s.efer)}     cs=${s.cs.toString(16).padStart(4, "0")} base=${hex(s.csBase)}`,
  );
  const rip = (r.rip ?? 0n) + ((s.efer & EFER_LMA) !== 0n ? 0n : s.csBase);
  const phys = translate(mem, s, rip);
  if (phys !== undefined && mem.contains(phys, 1)) {
    const n = Math.min(16, 0x1000 - (phys & 0xfff));
    const bytes = mem.contains(phys, n) ? mem.slice(phys, n) : new Uint8Array();
    const text = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    lines.push(`  code at rip (guest-physical 0x${phys.toString(16)}): ${text}`);
  } else {
    lines.push(`  code at rip: not mapped to guest RAM`);
  }
  return lines.join("\n");
}
