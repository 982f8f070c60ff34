/**
 * Puts a freshly created vCPU into the state the Linux 64-bit boot protocol expects: CPUID from
 * the template, boot MSRs, a reset FPU, LAPIC LINT0/LINT1 wired as on a PC, and for the boot
 * vCPU the long-mode segment and general registers. Application processors are left waiting for
 * their INIT/SIPI, which the in-kernel LAPIC delivers.
 *
 * @module
 */

import type { Vcpu } from "../../ffi/kvm.ts";
import {
  APIC_DELIVERY,
  APIC_REG,
  type CpuidEntry,
  encodeFpu,
  KVM_FPU_SIZE,
  type KvmRegs,
  type KvmSregs,
  setLvtDeliveryMode,
} from "../../ffi/kvm_structs.ts";
import { bootMsrs } from "../cpu/msrs.ts";

/** Segment/control registers for the boot vCPU (a subset of `kvm_sregs`). */
export type BootSregs = Pick<
  KvmSregs,
  | "cs"
  | "ds"
  | "es"
  | "fs"
  | "gs"
  | "ss"
  | "tr"
  | "ldt"
  | "gdt"
  | "idt"
  | "cr0"
  | "cr3"
  | "cr4"
  | "efer"
>;

/** General registers for the boot vCPU. */
export type BootRegs = Pick<KvmRegs, "rip" | "rsi" | "rsp" | "rbp" | "rflags">;

/** What {@link setupVcpu} needs. */
export interface VcpuSetup {
  /** The CPUID table for this vCPU. */
  cpuid: readonly CpuidEntry[];
  /** Registers for the boot vCPU; omitted for application processors. */
  boot?: { regs: BootRegs; sregs: BootSregs };
}

const FPU_FCW_RESET = 0x37f;
const MXCSR_RESET = 0x1f80;

/**
 * Configures one vCPU. Returns the boot MSRs KVM refused (none on a normal host): they are
 * set one by one because KVM_SET_MSRS stops at the first entry it refuses.
 *
 * @example
 * ```ts
 * const refusedMsrs = setupVcpu(vcpu, { cpuid, boot: { regs, sregs } });
 * ```
 */
export function setupVcpu(vcpu: Vcpu, setup: VcpuSetup): number[] {
  vcpu.setCpuid2(setup.cpuid);
  const refused = bootMsrs().filter((m) => vcpu.setMsrs([m]) !== 1).map((m) => m.index);
  const fpu = new Uint8Array(KVM_FPU_SIZE);
  encodeFpu(fpu, { fcw: FPU_FCW_RESET, mxcsr: MXCSR_RESET });
  vcpu.setFpu(fpu);
  const lapic = vcpu.getLapic();
  setLvtDeliveryMode(lapic, APIC_REG.LVT_LINT0, APIC_DELIVERY.EXTINT);
  setLvtDeliveryMode(lapic, APIC_REG.LVT_LINT1, APIC_DELIVERY.NMI);
  vcpu.setLapic(lapic);
  if (setup.boot) {
    vcpu.setSregs({ ...vcpu.getSregs(), ...setup.boot.sregs });
    vcpu.setRegs({ ...vcpu.getRegs(), ...setup.boot.regs });
  }
  return refused;
}
