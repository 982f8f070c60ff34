/**
 * CPUID for a vCPU: KVM's supported set, narrowed by a {@link CpuTemplate}, with the per-vCPU
 * topology (APIC ids, core counts) filled in.
 *
 * @module
 */

import type { CpuidEntry } from "../../ffi/kvm_structs.ts";

/** A named CPUID policy, like Firecracker's CPU templates. */
export interface CpuTemplate {
  /** Name used on the command line (`--cpu-template`). */
  readonly name: string;
  /** One line for `--help` and the log. */
  readonly description: string;
  /** Feature bits to clear, per leaf/sub-leaf and register. */
  readonly masks: readonly CpuidMask[];
}

/** Bits to clear in one register of one CPUID leaf (every sub-leaf when `index` is omitted). */
export interface CpuidMask {
  readonly leaf: number;
  readonly index?: number;
  readonly reg: "eax" | "ebx" | "ecx" | "edx";
  /** Bit numbers to clear. */
  readonly clear: readonly number[];
}

/** Leaf 1 ECX bits. */
const L1C = { MONITOR: 3, VMX: 5, SMX: 6, EST: 7, TM2: 8, CX16: 13, XTPR: 14, PDCM: 15, DCA: 18 };
/** Leaf 7 EBX bits. */
const L7B = {
  SGX: 2,
  HLE: 4,
  RTM: 11,
  MPX: 14,
  AVX512F: 16,
  AVX512DQ: 17,
  AVX512IFMA: 21,
  PT: 25,
  AVX512PF: 26,
  AVX512ER: 27,
  AVX512CD: 28,
  AVX512BW: 30,
  AVX512VL: 31,
};
/** Leaf 7 ECX bits. */
const L7C = {
  AVX512VBMI: 1,
  PKU: 3,
  OSPKE: 4,
  WAITPKG: 5,
  AVX512VBMI2: 6,
  AVX512VNNI: 11,
  AVX512BITALG: 12,
  AVX512VPOPCNTDQ: 14,
};
/** Leaf 0x40000001 EAX (KVM paravirtual features). */
export const KVM_FEATURE = { PV_SEND_IPI: 11, PV_SCHED_YIELD: 13 } as const;

/** Everything KVM supports on this host, topology aside. */
export const HOST_TEMPLATE: CpuTemplate = {
  name: "host",
  description: "every CPU feature KVM supports on this host",
  masks: [],
};

/**
 * A conservative baseline: no AVX-512, TSX, SGX, MPX, PKU, PT, monitor/mwait or nested VMX, so
 * a guest sees the same CPU on any recent x86-64 host.
 */
export const MINIMAL_TEMPLATE: CpuTemplate = {
  name: "minimal",
  description: "a conservative x86-64 baseline (no AVX-512, TSX, SGX, MPX, PKU, PT, VMX)",
  masks: [
    {
      leaf: 1,
      reg: "ecx",
      clear: [L1C.MONITOR, L1C.VMX, L1C.SMX, L1C.EST, L1C.TM2, L1C.XTPR, L1C.PDCM, L1C.DCA],
    },
    { leaf: 7, index: 0, reg: "ebx", clear: Object.values(L7B) },
    { leaf: 7, index: 0, reg: "ecx", clear: Object.values(L7C) },
  ],
};

/**
 * The masks that keep a Linux guest off the paths a `kvm_pvm` host cannot run: `cmpxchg16b`
 * (its CPL0 emulator faults on it) and the hypercall-based KVM PV features (a `vmcall` never
 * completes there, so PV send-IPI hangs the second vCPU). Applied on top of any template.
 */
export const PVM_MASKS: readonly CpuidMask[] = [
  { leaf: 1, reg: "ecx", clear: [L1C.CX16] },
  { leaf: 0x4000_0001, reg: "eax", clear: [KVM_FEATURE.PV_SEND_IPI, KVM_FEATURE.PV_SCHED_YIELD] },
];

/** The templates `--cpu-template` accepts, by name. */
export const CPU_TEMPLATES: Readonly<Record<string, CpuTemplate>> = {
  host: HOST_TEMPLATE,
  minimal: MINIMAL_TEMPLATE,
};

/** Options of {@link vcpuCpuid}. */
export interface VcpuCpuidOptions {
  /** This vCPU's index (= its APIC id). */
  readonly id: number;
  /** How many vCPUs the VM has. */
  readonly cpus: number;
  /** The template to apply. */
  readonly template: CpuTemplate;
  /** Extra masks (the PVM quirks). */
  readonly extraMasks?: readonly CpuidMask[];
}

function applyMask(e: CpuidEntry, m: CpuidMask): void {
  if (e.function !== m.leaf || (m.index !== undefined && e.index !== m.index)) return;
  let v = e[m.reg];
  for (const bit of m.clear) v &= ~(1 << bit);
  e[m.reg] = v >>> 0;
}

/**
 * The CPUID table for one vCPU.
 *
 * @example
 * ```ts
 * const table = vcpuCpuid(kvm.supportedCpuid(), { id: 0, cpus: 2, template: HOST_TEMPLATE });
 * vcpu.setCpuid2(table);
 * ```
 */
export function vcpuCpuid(supported: readonly CpuidEntry[], o: VcpuCpuidOptions): CpuidEntry[] {
  const out = supported.map((e) => ({ ...e }));
  const masks = [...o.template.masks, ...(o.extraMasks ?? [])];
  // Bits needed to number the cores of one package (x2APIC topology shift).
  const coreBits = o.cpus <= 1 ? 0 : Math.ceil(Math.log2(o.cpus));
  for (const e of out) {
    switch (e.function) {
      case 1:
        // APIC id, logical processor count, hypervisor present; HTT when there are siblings.
        e.ebx = ((e.ebx & 0x0000ffff) | ((o.cpus & 0xff) << 16) | ((o.id & 0xff) << 24)) >>> 0;
        e.ecx = (e.ecx | (1 << 31)) >>> 0;
        e.edx = o.cpus > 1 ? (e.edx | (1 << 28)) >>> 0 : (e.edx & ~(1 << 28)) >>> 0;
        break;
      case 4:
        // Cores per package - 1 in EAX[31:26]; one thread shares each cache level below L3.
        if ((e.eax & 0x1f) !== 0) {
          e.eax = ((e.eax & 0x03ff_c3ff) | (((o.cpus - 1) & 0x3f) << 26)) >>> 0;
        }
        break;
      case 0xb:
      case 0x1f:
        // x2APIC topology: level 0 = SMT (one thread per core), level 1 = core, then invalid.
        e.edx = o.id;
        if (e.index === 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = (1 << 8) | 0;
        } else if (e.index === 1) {
          e.eax = coreBits;
          e.ebx = o.cpus;
          e.ecx = (2 << 8) | 1;
        } else {
          e.eax = 0;
          e.ebx = 0;
          e.ecx = e.index & 0xff;
        }
        break;
    }
    for (const m of masks) applyMask(e, m);
  }
  return out;
}
