/**
 * Everything the 64-bit Linux boot protocol needs in guest memory before the first `KVM_RUN`,
 * in one call: kernel, initrd, command line, zero page, identity map, GDT and MP table.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_ADDR } from "../memory/layout.ts";
import type { BootRegs, BootSregs } from "../vmm/vcpu_setup.ts";
import type { Cmdline } from "./cmdline.ts";
import { bootRegs, writeGdtAndSregs } from "./gdt.ts";
import { type LoadedInitrd, type LoadedKernel, loadInitrd, loadKernel } from "./kernel_loader.ts";
import { writeMpTable } from "./mptable.ts";
import { writeIdentityMap } from "./page_tables.ts";
import { writeZeroPage } from "./zero_page.ts";

/** Inputs of {@link setupBoot}. */
export interface BootInputs {
  kernelImage: Uint8Array;
  initrdImage?: Uint8Array;
  cmdline: Cmdline;
  cpus: number;
}

/** The loaded images and the boot vCPU's registers. */
export interface BootState {
  kernel: LoadedKernel;
  initrd?: LoadedInitrd;
  regs: BootRegs;
  sregs: BootSregs;
}

/**
 * Loads and lays out everything; returns the registers for vCPU 0.
 *
 * @example
 * ```ts
 * const boot = setupBoot(mem, { kernelImage, initrdImage, cmdline, cpus: 2 });
 * ```
 */
export function setupBoot(mem: GuestMemory, b: BootInputs): BootState {
  const kernel = loadKernel(mem, b.kernelImage);
  const initrd = b.initrdImage ? loadInitrd(mem, b.initrdImage, kernel) : undefined;
  const cmdlineSize = b.cmdline.write(mem, CMDLINE_ADDR, kernel.cmdlineSize);
  writeZeroPage(mem, { kernel, initrd, cmdlineAddr: CMDLINE_ADDR, cmdlineSize });
  const cr3 = writeIdentityMap(mem);
  const sregs = writeGdtAndSregs(mem, cr3);
  writeMpTable(mem, b.cpus);
  return { kernel, initrd, regs: bootRegs(kernel.entry), sregs };
}
