/**
 * Detection of hosts whose `/dev/kvm` is the `kvm_pvm` module (PVM: guests run without VMX/SVM,
 * guest ring-0 code is emulated) and the guest settings such a host needs. On hardware KVM
 * none of this applies; the settings are harmless there too.
 *
 * @module
 */

import { existsSync } from "node:fs";

/**
 * True when this host's KVM is provided by `kvm_pvm`.
 *
 * @example
 * ```ts
 * if (isPvmHost()) console.log("PVM host");
 * ```
 */
export function isPvmHost(sysModule = "/sys/module"): boolean {
  return existsSync(`${sysModule}/kvm_pvm`);
}

/**
 * Kernel command-line additions for a PVM host: hide the instructions its emulator faults on
 * (the kernel must be told itself: CPUID masks mostly do not reach it there) and skip the KVM
 * PTP clock whose hypercall never completes.
 */
export const PVM_CMDLINE: readonly string[] = [
  "clearcpuid=popcnt,cx16,xsave,smap",
  "initcall_blacklist=ptp_kvm_init",
];

/** How `--pvm-quirks` decides. */
export type PvmQuirksMode = "auto" | "on" | "off";

/**
 * Whether to apply the PVM settings for a mode.
 *
 * @example
 * ```ts
 * pvmQuirksEnabled("auto"); // true on a kvm_pvm host
 * ```
 */
export function pvmQuirksEnabled(mode: PvmQuirksMode, detect: () => boolean = isPvmHost): boolean {
  return mode === "on" || (mode === "auto" && detect());
}
