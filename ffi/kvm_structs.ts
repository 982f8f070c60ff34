/**
 * Byte layouts of the KVM structs denovmm passes through ioctls (x86-64 `<linux/kvm.h>`), with
 * encoders and decoders between them and plain TypeScript objects. Offsets are named constants so
 * the unit tests can pin them against the C layout.
 *
 * @example
 * ```ts
 * import { encodeRegs, decodeRegs, KVM_REGS_SIZE } from "./kvm_structs.ts";
 * const bytes = new Uint8Array(KVM_REGS_SIZE);
 * encodeRegs(bytes, { ...decodeRegs(bytes), rip: 0x1000n });
 * ```
 * @module
 */

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

// ---------------------------------------------------------------- kvm_regs
/** `struct kvm_regs`: the general-purpose registers, in their C order. */
export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}
/** Field order of `struct kvm_regs` (each a u64). */
export const KVM_REGS_FIELDS = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const satisfies readonly (keyof KvmRegs)[];
/** sizeof(struct kvm_regs). */
export const KVM_REGS_SIZE = 144;

/** Decodes `struct kvm_regs`. @example `decodeRegs(new Uint8Array(144)).rip // 0n` */
export function decodeRegs(b: Uint8Array): KvmRegs {
  const v = dv(b);
  const r = {} as KvmRegs;
  KVM_REGS_FIELDS.forEach((f, i) => (r[f] = v.getBigUint64(i * 8, true)));
  return r;
}

/** Encodes `struct kvm_regs`. @example `encodeRegs(buf, regs)` */
export function encodeRegs(b: Uint8Array, r: KvmRegs): void {
  const v = dv(b);
  KVM_REGS_FIELDS.forEach((f, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, r[f]), true));
}

// ---------------------------------------------------------------- kvm_sregs
/** `struct kvm_segment`. */
export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}
/** `struct kvm_dtable`. */
export interface KvmDtable {
  base: bigint;
  limit: number;
}
/** `struct kvm_sregs`. */
export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** The 256-bit pending-interrupt bitmap, as four u64 words. */
  interruptBitmap: bigint[];
}
/** sizeof(struct kvm_segment). */
export const KVM_SEGMENT_SIZE = 24;
/** sizeof(struct kvm_dtable). */
export const KVM_DTABLE_SIZE = 16;
/** sizeof(struct kvm_sregs). */
export const KVM_SREGS_SIZE = 312;
/** Offsets inside `struct kvm_sregs`. */
export const KVM_SREGS_OFFSETS = {
  cs: 0,
  ds: 24,
  es: 48,
  fs: 72,
  gs: 96,
  ss: 120,
  tr: 144,
  ldt: 168,
  gdt: 192,
  idt: 208,
  cr0: 224,
  cr2: 232,
  cr3: 240,
  cr4: 248,
  cr8: 256,
  efer: 264,
  apicBase: 272,
  interruptBitmap: 280,
} as const;
const SEGMENTS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
const CONTROL = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apicBase"] as const;

function decodeSegment(v: DataView, o: number): KvmSegment {
  return {
    base: v.getBigUint64(o, true),
    limit: v.getUint32(o + 8, true),
    selector: v.getUint16(o + 12, true),
    type: v.getUint8(o + 14),
    present: v.getUint8(o + 15),
    dpl: v.getUint8(o + 16),
    db: v.getUint8(o + 17),
    s: v.getUint8(o + 18),
    l: v.getUint8(o + 19),
    g: v.getUint8(o + 20),
    avl: v.getUint8(o + 21),
    unusable: v.getUint8(o + 22),
  };
}

function encodeSegment(v: DataView, o: number, s: KvmSegment): void {
  v.setBigUint64(o, s.base, true);
  v.setUint32(o + 8, s.limit, true);
  v.setUint16(o + 12, s.selector, true);
  const bytes = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable, 0];
  bytes.forEach((x, i) => v.setUint8(o + 14 + i, x));
}

/** Decodes `struct kvm_sregs`. @example `decodeSregs(buf).cr0` */
export function decodeSregs(b: Uint8Array): KvmSregs {
  const v = dv(b);
  const o = KVM_SREGS_OFFSETS;
  const s = {} as KvmSregs;
  for (const seg of SEGMENTS) s[seg] = decodeSegment(v, o[seg]);
  s.gdt = { base: v.getBigUint64(o.gdt, true), limit: v.getUint16(o.gdt + 8, true) };
  s.idt = { base: v.getBigUint64(o.idt, true), limit: v.getUint16(o.idt + 8, true) };
  for (const c of CONTROL) s[c] = v.getBigUint64(o[c], true);
  s.interruptBitmap = [0, 1, 2, 3].map((i) => v.getBigUint64(o.interruptBitmap + i * 8, true));
  return s;
}

/** Encodes `struct kvm_sregs`. @example `encodeSregs(buf, sregs)` */
export function encodeSregs(b: Uint8Array, s: KvmSregs): void {
  const v = dv(b);
  const o = KVM_SREGS_OFFSETS;
  for (const seg of SEGMENTS) encodeSegment(v, o[seg], s[seg]);
  for (const t of ["gdt", "idt"] as const) {
    v.setBigUint64(o[t], s[t].base, true);
    v.setUint16(o[t] + 8, s[t].limit, true);
  }
  for (const c of CONTROL) v.setBigUint64(o[c], s[c], true);
  s.interruptBitmap.forEach((w, i) => v.setBigUint64(o.interruptBitmap + i * 8, w, true));
}

// ---------------------------------------------------------------- kvm_fpu
/** sizeof(struct kvm_fpu). */
export const KVM_FPU_SIZE = 416;
/** Offsets inside `struct kvm_fpu`. */
export const KVM_FPU_OFFSETS = {
  fpr: 0,
  fcw: 128,
  fsw: 130,
  ftwx: 132,
  lastOpcode: 134,
  lastIp: 136,
  lastDp: 144,
  xmm: 152,
  mxcsr: 408,
} as const;

/**
 * Encodes a `struct kvm_fpu` in its reset state with the given control words (the rest zero).
 *
 * @example
 * ```ts
 * encodeFpu(buf, { fcw: 0x37f, mxcsr: 0x1f80 });
 * ```
 */
export function encodeFpu(b: Uint8Array, f: { fcw: number; mxcsr: number }): void {
  b.fill(0, 0, KVM_FPU_SIZE);
  const v = dv(b);
  v.setUint16(KVM_FPU_OFFSETS.fcw, f.fcw, true);
  v.setUint32(KVM_FPU_OFFSETS.mxcsr, f.mxcsr, true);
}

/** Reads fcw and mxcsr from a `struct kvm_fpu`. @example `decodeFpu(buf).mxcsr` */
export function decodeFpu(b: Uint8Array): { fcw: number; mxcsr: number } {
  const v = dv(b);
  return {
    fcw: v.getUint16(KVM_FPU_OFFSETS.fcw, true),
    mxcsr: v.getUint32(KVM_FPU_OFFSETS.mxcsr, true),
  };
}

// ---------------------------------------------------------------- kvm_msrs
/** One MSR value. */
export interface MsrEntry {
  index: number;
  data: bigint;
}
/** sizeof(struct kvm_msrs) header; entries of {@link KVM_MSR_ENTRY_SIZE} follow. */
export const KVM_MSRS_HEADER_SIZE = 8;
/** sizeof(struct kvm_msr_entry). */
export const KVM_MSR_ENTRY_SIZE = 16;

/** Encodes `struct kvm_msrs` with its entries. @example `encodeMsrs([{ index: 0x174, data: 0n }])` */
export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const b = new Uint8Array(KVM_MSRS_HEADER_SIZE + entries.length * KVM_MSR_ENTRY_SIZE);
  const v = dv(b);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = KVM_MSRS_HEADER_SIZE + i * KVM_MSR_ENTRY_SIZE;
    v.setUint32(o, e.index, true);
    v.setBigUint64(o + 8, e.data, true);
  });
  return b;
}

/** Decodes the first `count` entries of `struct kvm_msrs`. @example `decodeMsrs(buf, 1)` */
export function decodeMsrs(b: Uint8Array, count: number): MsrEntry[] {
  const v = dv(b);
  const out: MsrEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = KVM_MSRS_HEADER_SIZE + i * KVM_MSR_ENTRY_SIZE;
    out.push({ index: v.getUint32(o, true), data: v.getBigUint64(o + 8, true) });
  }
  return out;
}

// ---------------------------------------------------------------- kvm_cpuid2
/** `struct kvm_cpuid_entry2`. */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}
/** sizeof(struct kvm_cpuid2) header. */
export const KVM_CPUID2_HEADER_SIZE = 8;
/** sizeof(struct kvm_cpuid_entry2). */
export const KVM_CPUID_ENTRY2_SIZE = 40;
/** kvm_cpuid_entry2.flags: the leaf has sub-leaves selected by ECX. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

/** An empty `struct kvm_cpuid2` with room for `max` entries. @example `cpuid2Buffer(256)` */
export function cpuid2Buffer(max: number): Uint8Array {
  const b = new Uint8Array(KVM_CPUID2_HEADER_SIZE + max * KVM_CPUID_ENTRY2_SIZE);
  dv(b).setUint32(0, max, true);
  return b;
}

/** Encodes `struct kvm_cpuid2`. @example `encodeCpuid2(entries)` */
export function encodeCpuid2(entries: readonly CpuidEntry[]): Uint8Array {
  const b = cpuid2Buffer(entries.length);
  const v = dv(b);
  entries.forEach((e, i) => {
    const o = KVM_CPUID2_HEADER_SIZE + i * KVM_CPUID_ENTRY2_SIZE;
    [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx].forEach((x, j) =>
      v.setUint32(o + j * 4, x >>> 0, true)
    );
  });
  return b;
}

/** Decodes `struct kvm_cpuid2` (as many entries as its `nent` says). @example `decodeCpuid2(buf)` */
export function decodeCpuid2(b: Uint8Array): CpuidEntry[] {
  const v = dv(b);
  const n = v.getUint32(0, true);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = KVM_CPUID2_HEADER_SIZE + i * KVM_CPUID_ENTRY2_SIZE;
    const u = (j: number) => v.getUint32(o + j * 4, true);
    out.push({
      function: u(0),
      index: u(1),
      flags: u(2),
      eax: u(3),
      ebx: u(4),
      ecx: u(5),
      edx: u(6),
    });
  }
  return out;
}

// ---------------------------------------------------------------- small VM-fd structs
/** `struct kvm_userspace_memory_region`. */
export interface UserMemoryRegion {
  slot: number;
  flags: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
}
/** sizeof(struct kvm_userspace_memory_region). */
export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32;

/** Encodes `struct kvm_userspace_memory_region`. @example `encodeMemoryRegion(region)` */
export function encodeMemoryRegion(r: UserMemoryRegion): Uint8Array {
  const b = new Uint8Array(KVM_USERSPACE_MEMORY_REGION_SIZE);
  const v = dv(b);
  v.setUint32(0, r.slot, true);
  v.setUint32(4, r.flags, true);
  v.setBigUint64(8, r.guestPhysAddr, true);
  v.setBigUint64(16, r.memorySize, true);
  v.setBigUint64(24, r.userspaceAddr, true);
  return b;
}

/** sizeof(struct kvm_irqfd). */
export const KVM_IRQFD_SIZE = 32;
/** Encodes `struct kvm_irqfd`. @example `encodeIrqfd({ fd: 7, gsi: 5, flags: 0 })` */
export function encodeIrqfd(
  r: { fd: number; gsi: number; flags: number; resamplefd?: number },
): Uint8Array {
  const b = new Uint8Array(KVM_IRQFD_SIZE);
  const v = dv(b);
  v.setUint32(0, r.fd, true);
  v.setUint32(4, r.gsi, true);
  v.setUint32(8, r.flags, true);
  v.setUint32(12, r.resamplefd ?? 0, true);
  return b;
}

/** sizeof(struct kvm_ioeventfd). */
export const KVM_IOEVENTFD_SIZE = 64;
/** Encodes `struct kvm_ioeventfd`. @example `encodeIoeventfd({ datamatch: 0n, addr: 0xd0000050n, len: 4, fd: 8, flags: 1 })` */
export function encodeIoeventfd(
  r: { datamatch: bigint; addr: bigint; len: number; fd: number; flags: number },
): Uint8Array {
  const b = new Uint8Array(KVM_IOEVENTFD_SIZE);
  const v = dv(b);
  v.setBigUint64(0, r.datamatch, true);
  v.setBigUint64(8, r.addr, true);
  v.setUint32(16, r.len, true);
  v.setInt32(20, r.fd, true);
  v.setUint32(24, r.flags, true);
  return b;
}

/** sizeof(struct kvm_pit_config). */
export const KVM_PIT_CONFIG_SIZE = 64;
/** kvm_pit_config.flags: speaker port 0x61 handled by userspace (dummy). */
export const KVM_PIT_SPEAKER_DUMMY = 1;
/** Encodes `struct kvm_pit_config`. @example `encodePitConfig(KVM_PIT_SPEAKER_DUMMY)` */
export function encodePitConfig(flags: number): Uint8Array {
  const b = new Uint8Array(KVM_PIT_CONFIG_SIZE);
  dv(b).setUint32(0, flags, true);
  return b;
}

/** sizeof(struct kvm_irq_level). */
export const KVM_IRQ_LEVEL_SIZE = 8;
/** Encodes `struct kvm_irq_level` into `b`. @example `encodeIrqLevel(buf, 4, 1)` */
export function encodeIrqLevel(b: Uint8Array, irq: number, level: number): void {
  const v = dv(b);
  v.setUint32(0, irq, true);
  v.setUint32(4, level, true);
}

// ---------------------------------------------------------------- kvm_lapic_state
/** sizeof(struct kvm_lapic_state). */
export const KVM_LAPIC_STATE_SIZE = 1024;
/** LAPIC register offsets used at boot. */
export const APIC_REG = { ID: 0x20, SPIV: 0xf0, LVT_LINT0: 0x350, LVT_LINT1: 0x360 } as const;
/** LVT delivery modes (bits 8..10). */
export const APIC_DELIVERY = { FIXED: 0, NMI: 4, EXTINT: 7 } as const;

/**
 * Sets an LVT entry's delivery mode in a `kvm_lapic_state`, keeping its other bits.
 *
 * @example
 * ```ts
 * setLvtDeliveryMode(lapic, APIC_REG.LVT_LINT0, APIC_DELIVERY.EXTINT);
 * ```
 */
export function setLvtDeliveryMode(b: Uint8Array, reg: number, mode: number): void {
  const v = dv(b);
  const old = v.getUint32(reg, true);
  v.setUint32(reg, (old & ~0x700) | (mode << 8), true);
}

// ---------------------------------------------------------------- kvm_run
/** Offsets inside the mmap'ed `struct kvm_run` (x86-64). */
export const KVM_RUN_OFFSETS = {
  requestInterruptWindow: 0,
  immediateExit: 1,
  exitReason: 8,
  readyForInterruptInjection: 12,
  ifFlag: 13,
  flags: 14,
  cr8: 16,
  apicBase: 24,
  /** Start of the exit-information union. */
  exit: 32,
  io: { direction: 32, size: 33, port: 34, count: 36, dataOffset: 40 },
  mmio: { physAddr: 32, data: 40, len: 48, isWrite: 52 },
  failEntry: { hardwareEntryFailureReason: 32, cpu: 40 },
  internal: { suberror: 32, ndata: 36, data: 40 },
  systemEvent: { type: 32, ndata: 36, data: 40 },
} as const;
