/**
 * Everything the Linux 64-bit boot protocol needs in guest memory before the first `KVM_RUN`, in
 * one call: kernel, initrd, command line, MP table, zero page (with the e820 map), identity map
 * and GDT; plus the registers vCPU 0 starts with.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_ADDR, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import type { Cmdline } from "./cmdline.ts";
import type { E820Entry } from "./e820.ts";
import { type BootRegs, bootRegs, type BootSregs, bootSregs, writeGdt } from "./gdt.ts";
import { type LoadedInitrd, type LoadedKernel, loadInitrd, loadKernel } from "./kernel_loader.ts";
import { type GuestRange, writeMpTable } from "./mptable.ts";
import { writeIdentityMap } from "./page_tables.ts";
import { writeZeroPage } from "./zero_page.ts";

/** Inputs of {@link setupBoot}. */
export interface BootInputs {
  /** An ELF vmlinux or a bzImage. */
  kernelImage: Uint8Array;
  initrdImage?: Uint8Array;
  cmdline: Cmdline;
  /** vCPU count, for the MP table. */
  cpus: number;
}

/** What {@link setupBoot} placed, and the registers for vCPU 0. */
export interface BootState {
  kernel: LoadedKernel;
  initrd?: LoadedInitrd;
  regs: BootRegs;
  sregs: BootSregs;
  /** Where the MP table went (reserved in the e820 map). */
  mpTable: GuestRange;
  /** The e820 map written into the zero page. */
  e820: E820Entry[];
  /** Length of the command line written at CMDLINE_ADDR, NUL excluded. */
  cmdlineLength: number;
}

/**
 * Loads and lays out everything for a direct 64-bit boot; returns the boot vCPU's registers.
 * Application processors need nothing here: they wait for INIT/SIPI from the kernel.
 *
 * @example
 * ```ts
 * const boot = setupBoot(mem, { kernelImage, initrdImage, cmdline: Cmdline.parse("quiet"), cpus: 2 });
 * vcpu.setRegs({ ...vcpu.getRegs(), ...boot.regs });
 * ```
 */
export function setupBoot(mem: GuestMemory, inputs: BootInputs): BootState {
  const kernel = loadKernel(mem, inputs.kernelImage);
  const initrd = inputs.initrdImage === undefined
    ? undefined
    : loadInitrd(mem, inputs.initrdImage, kernel);
  const cmdlineLength = inputs.cmdline.write(mem, CMDLINE_ADDR, kernel.cmdlineSize);
  const mpTable = writeMpTable(mem, inputs.cpus);
  const e820 = writeZeroPage(mem, {
    kernel,
    initrd,
    cmdlineAddr: CMDLINE_ADDR,
    reserved: [mpTable],
  });
  const cr3 = writeIdentityMap(mem);
  writeGdt(mem);
  return {
    kernel,
    initrd,
    regs: bootRegs(kernel.entry, ZERO_PAGE_ADDR),
    sregs: bootSregs(cr3),
    mpTable,
    e820,
    cmdlineLength,
  };
}
