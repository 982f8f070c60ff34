/**
 * Model-specific registers set on every vCPU before it first runs: the system-call and
 * SYSENTER MSRs cleared, the TSC at zero, fast strings on and MTRRs enabled with write-back
 * as the default type (a kernel that finds MTRRs off maps all memory uncached).
 *
 * @module
 */

import type { MsrEntry } from "../../ffi/kvm_structs.ts";

/** MSR numbers used at boot. */
export const MSR = {
  TSC: 0x10,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MISC_ENABLE: 0x1a0,
  MTRR_DEF_TYPE: 0x2ff,
  STAR: 0xc000_0081,
  LSTAR: 0xc000_0082,
  CSTAR: 0xc000_0083,
  SYSCALL_MASK: 0xc000_0084,
  KERNEL_GS_BASE: 0xc000_0102,
} as const;

const MISC_ENABLE_FAST_STRING = 1n;
const MTRR_ENABLE = 1n << 11n;
const MTRR_TYPE_WRBACK = 6n;

/**
 * The boot MSR values.
 *
 * @example
 * ```ts
 * const n = vcpu.setMsrs(bootMsrs());
 * ```
 */
export function bootMsrs(): MsrEntry[] {
  return [
    { index: MSR.SYSENTER_CS, data: 0n },
    { index: MSR.SYSENTER_ESP, data: 0n },
    { index: MSR.SYSENTER_EIP, data: 0n },
    { index: MSR.STAR, data: 0n },
    { index: MSR.CSTAR, data: 0n },
    { index: MSR.KERNEL_GS_BASE, data: 0n },
    { index: MSR.SYSCALL_MASK, data: 0n },
    { index: MSR.LSTAR, data: 0n },
    { index: MSR.TSC, data: 0n },
    { index: MSR.MISC_ENABLE, data: MISC_ENABLE_FAST_STRING },
    { index: MSR.MTRR_DEF_TYPE, data: MTRR_ENABLE | MTRR_TYPE_WRBACK },
  ];
}
