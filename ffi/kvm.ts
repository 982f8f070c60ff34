/**
 * Thin wrappers over the three kinds of KVM file descriptor: {@link Kvm} (`/dev/kvm`),
 * {@link Vm} (a VM) and {@link Vcpu} (a virtual CPU). Each method maps to one ioctl and throws
 * {@link ErrnoError} naming that ioctl and the errno when it fails.
 *
 * @example
 * ```ts
 * using kvm = Kvm.open();
 * using vm = kvm.createVm();
 * const vcpu = vm.createVcpu(0, kvm.vcpuMmapSize());
 * ```
 * @module
 */

import { check, errno, ErrnoError } from "./errno.ts";
import { KVM_API_VERSION, KVM_EXIT, SYSTEM_IOCTLS, VCPU_IOCTLS, VM_IOCTLS } from "./kvm_ioctls.ts";
import {
  cpuid2Buffer,
  type CpuidEntry,
  decodeCpuid2,
  decodeMsrs,
  decodeRegs,
  decodeSregs,
  encodeCpuid2,
  encodeIoeventfd,
  encodeIrqfd,
  encodeIrqLevel,
  encodeMemoryRegion,
  encodeMsrs,
  encodePitConfig,
  encodeRegs,
  encodeSregs,
  KVM_FPU_SIZE,
  KVM_IRQ_LEVEL_SIZE,
  KVM_LAPIC_STATE_SIZE,
  KVM_REGS_SIZE,
  KVM_SREGS_SIZE,
  type KvmRegs,
  type KvmSregs,
  type MsrEntry,
  type UserMemoryRegion,
} from "./kvm_structs.ts";
import { libc, MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "./libc.ts";

const E2BIG = 7;
const EINTR = 4;
const EAGAIN = 11;
const enc = new TextEncoder();

/** A NUL-terminated C string. @example `cString("/dev/kvm")` */
export function cString(s: string): Uint8Array {
  const b = new Uint8Array(enc.encode(s).length + 1);
  enc.encodeInto(s, b);
  return b;
}

function ioctlPtr(fd: number, name: string, request: number, arg: Uint8Array): number {
  return check(name, libc.symbols.ioctl_ptr(fd, BigInt(request), arg));
}

function ioctlInt(fd: number, name: string, request: number, arg: number | bigint = 0): number {
  return check(name, libc.symbols.ioctl_int(fd, BigInt(request), BigInt(arg)));
}

/** The `/dev/kvm` system fd. */
export class Kvm {
  readonly #fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Opens `/dev/kvm` (or `path`) and checks the API version.
   *
   * @example
   * ```ts
   * using kvm = Kvm.open();
   * ```
   */
  static open(path = "/dev/kvm"): Kvm {
    const fd = libc.symbols.open(cString(path), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) throw new ErrnoError(`open ${path}`, errno());
    const kvm = new Kvm(fd);
    const version = kvm.apiVersion();
    if (version !== KVM_API_VERSION) {
      kvm.close();
      throw new Error(
        `${path} speaks KVM API version ${version}; denovmm needs ${KVM_API_VERSION}`,
      );
    }
    return kvm;
  }

  /** The raw fd. */
  get fd(): number {
    return this.#fd;
  }

  /** KVM_GET_API_VERSION. @example `kvm.apiVersion() // 12` */
  apiVersion(): number {
    return ioctlInt(this.#fd, "KVM_GET_API_VERSION", SYSTEM_IOCTLS.KVM_GET_API_VERSION);
  }

  /** KVM_CHECK_EXTENSION: 0 when absent, else the capability's value. @example `kvm.checkExtension(KVM_CAP.IRQFD)` */
  checkExtension(cap: number): number {
    return ioctlInt(this.#fd, "KVM_CHECK_EXTENSION", SYSTEM_IOCTLS.KVM_CHECK_EXTENSION, cap);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's `kvm_run` mapping. @example `kvm.vcpuMmapSize()` */
  vcpuMmapSize(): number {
    return ioctlInt(this.#fd, "KVM_GET_VCPU_MMAP_SIZE", SYSTEM_IOCTLS.KVM_GET_VCPU_MMAP_SIZE);
  }

  /** KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits. @example `kvm.supportedCpuid().length` */
  supportedCpuid(): CpuidEntry[] {
    for (let max = 128;; max *= 2) {
      const buf = cpuid2Buffer(max);
      const r = libc.symbols.ioctl_ptr(
        this.#fd,
        BigInt(SYSTEM_IOCTLS.KVM_GET_SUPPORTED_CPUID),
        buf,
      );
      if (r >= 0) return decodeCpuid2(buf);
      const e = errno();
      if (e !== E2BIG || max >= 4096) throw new ErrnoError("KVM_GET_SUPPORTED_CPUID", e);
    }
  }

  /** KVM_CREATE_VM. @example `using vm = kvm.createVm()` */
  createVm(): Vm {
    return new Vm(ioctlInt(this.#fd, "KVM_CREATE_VM", SYSTEM_IOCTLS.KVM_CREATE_VM, 0));
  }

  /** Closes the fd (idempotent). @example `kvm.close()` */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.symbols.close(this.#fd);
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A VM fd. */
export class Vm {
  readonly #fd: number;
  readonly #irqLevel = new Uint8Array(KVM_IRQ_LEVEL_SIZE);
  #closed = false;

  /**
   * Wraps an existing VM fd (normally obtained from {@link Kvm.createVm}).
   *
   * @example
   * ```ts
   * const vm = new Vm(fd);
   * ```
   */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The raw fd. */
  get fd(): number {
    return this.#fd;
  }

  /** KVM_CHECK_EXTENSION on the VM fd. @example `vm.checkExtension(KVM_CAP.MAX_VCPUS)` */
  checkExtension(cap: number): number {
    return ioctlInt(this.#fd, "KVM_CHECK_EXTENSION", VM_IOCTLS.KVM_CHECK_EXTENSION, cap);
  }

  /** KVM_CREATE_VCPU, mapping its `kvm_run`. @example `vm.createVcpu(0, kvm.vcpuMmapSize())` */
  createVcpu(id: number, mmapSize: number): Vcpu {
    const fd = ioctlInt(this.#fd, `KVM_CREATE_VCPU ${id}`, VM_IOCTLS.KVM_CREATE_VCPU, id);
    return Vcpu.fromFd(fd, id, mmapSize);
  }

  /** KVM_SET_USER_MEMORY_REGION. @example `vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 1n << 28n, userspaceAddr: addr })` */
  setUserMemoryRegion(region: UserMemoryRegion): void {
    ioctlPtr(
      this.#fd,
      "KVM_SET_USER_MEMORY_REGION",
      VM_IOCTLS.KVM_SET_USER_MEMORY_REGION,
      encodeMemoryRegion(region),
    );
  }

  /** KVM_SET_TSS_ADDR. @example `vm.setTssAddr(0xfffbd000)` */
  setTssAddr(addr: number): void {
    ioctlInt(this.#fd, "KVM_SET_TSS_ADDR", VM_IOCTLS.KVM_SET_TSS_ADDR, addr);
  }

  /** KVM_SET_IDENTITY_MAP_ADDR. @example `vm.setIdentityMapAddr(0xfffbc000)` */
  setIdentityMapAddr(addr: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(addr), true);
    ioctlPtr(this.#fd, "KVM_SET_IDENTITY_MAP_ADDR", VM_IOCTLS.KVM_SET_IDENTITY_MAP_ADDR, b);
  }

  /** KVM_CREATE_IRQCHIP (PIC, IOAPIC, per-vCPU LAPIC in the kernel). @example `vm.createIrqchip()` */
  createIrqchip(): void {
    ioctlInt(this.#fd, "KVM_CREATE_IRQCHIP", VM_IOCTLS.KVM_CREATE_IRQCHIP, 0);
  }

  /** KVM_CREATE_PIT2. @example `vm.createPit2(KVM_PIT_SPEAKER_DUMMY)` */
  createPit2(flags: number): void {
    ioctlPtr(this.#fd, "KVM_CREATE_PIT2", VM_IOCTLS.KVM_CREATE_PIT2, encodePitConfig(flags));
  }

  /** KVM_IRQ_LINE: sets an irqchip input pin's level (no allocation). @example `vm.irqLine(4, 1)` */
  irqLine(irq: number, level: number): void {
    encodeIrqLevel(this.#irqLevel, irq, level);
    ioctlPtr(this.#fd, "KVM_IRQ_LINE", VM_IOCTLS.KVM_IRQ_LINE, this.#irqLevel);
  }

  /** KVM_IRQFD: a write to `fd` injects `gsi`. @example `vm.irqfd(efd, 5)` */
  irqfd(fd: number, gsi: number, flags = 0): void {
    ioctlPtr(this.#fd, "KVM_IRQFD", VM_IOCTLS.KVM_IRQFD, encodeIrqfd({ fd, gsi, flags }));
  }

  /** KVM_IOEVENTFD: a guest write to `addr` signals `fd` without a userspace exit. @example `vm.ioeventfd({ fd: efd, addr: 0xd0000050n, len: 4, datamatch: 0n, flags: 1 })` */
  ioeventfd(r: { fd: number; addr: bigint; len: number; datamatch: bigint; flags: number }): void {
    ioctlPtr(this.#fd, "KVM_IOEVENTFD", VM_IOCTLS.KVM_IOEVENTFD, encodeIoeventfd(r));
  }

  /** Closes the fd (idempotent). @example `vm.close()` */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.symbols.close(this.#fd);
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A vCPU fd plus its mmap'ed `struct kvm_run`. */
export class Vcpu {
  readonly #fd: number;
  readonly #id: number;
  readonly #run: Deno.PointerObject;
  readonly #runSize: number;
  readonly #runBytes: Uint8Array;
  readonly #kvmRun: bigint;
  readonly #ownsMapping: boolean;
  #unmapped = false;
  #closed = false;

  private constructor(
    fd: number,
    id: number,
    run: Deno.PointerObject,
    runSize: number,
    ownsMapping: boolean,
  ) {
    this.#ownsMapping = ownsMapping;
    this.#fd = fd;
    this.#id = id;
    this.#run = run;
    this.#runSize = runSize;
    this.#runBytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(run, runSize));
    this.#kvmRun = BigInt(VCPU_IOCTLS.KVM_RUN);
  }

  /**
   * Wraps a vCPU fd created elsewhere (a Worker receives the fd number) and maps its `kvm_run`.
   *
   * @example
   * ```ts
   * const vcpu = Vcpu.fromFd(fd, 0, 12288);
   * ```
   */
  static fromFd(fd: number, id: number, mmapSize: number): Vcpu {
    const p = libc.symbols.mmap(null, BigInt(mmapSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
    if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
      throw new ErrnoError(`mmap kvm_run of vCPU ${id}`, errno());
    }
    return new Vcpu(fd, id, p, mmapSize, true);
  }

  /**
   * Wraps a vCPU whose `kvm_run` another thread of this process already mapped (a vCPU Worker
   * gets the fd and the mapping's address). The mapping stays owned by the creator.
   *
   * @example
   * ```ts
   * const vcpu = Vcpu.attach(fd, 0, runAddr, 12288);
   * ```
   */
  static attach(fd: number, id: number, runAddr: bigint, runSize: number): Vcpu {
    const p = Deno.UnsafePointer.create(runAddr);
    if (p === null) throw new Error("kvm_run address is null");
    return new Vcpu(fd, id, p, runSize, false);
  }

  /** Host address of the mapped `kvm_run`. */
  get runAddress(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.#run));
  }

  /** The raw fd. */
  get fd(): number {
    return this.#fd;
  }

  /** The vCPU index (also its APIC id). */
  get id(): number {
    return this.#id;
  }

  /** The live `struct kvm_run` bytes (read exit information from here; see KVM_RUN_OFFSETS). */
  get runBytes(): Uint8Array {
    return this.#runBytes;
  }

  /**
   * KVM_RUN. Returns the exit reason; a signal (the stop kick) returns `KVM_EXIT.INTR`.
   * Allocation-free: this is the hot path.
   *
   * @example
   * ```ts
   * const reason = vcpu.run();
   * ```
   */
  run(): number {
    const r = libc.symbols.ioctl_int(this.#fd, this.#kvmRun, 0n);
    if (r < 0) {
      const e = errno();
      if (e === EINTR || e === EAGAIN) return KVM_EXIT.INTR;
      throw new ErrnoError(`KVM_RUN on vCPU ${this.#id}`, e);
    }
    return this.#runBytes[8] | (this.#runBytes[9] << 8) | (this.#runBytes[10] << 16) |
      (this.#runBytes[11] << 24);
  }

  /** KVM_GET_REGS. @example `vcpu.getRegs().rip` */
  getRegs(): KvmRegs {
    const b = new Uint8Array(KVM_REGS_SIZE);
    ioctlPtr(this.#fd, "KVM_GET_REGS", VCPU_IOCTLS.KVM_GET_REGS, b);
    return decodeRegs(b);
  }

  /** KVM_SET_REGS. @example `vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n })` */
  setRegs(regs: KvmRegs): void {
    const b = new Uint8Array(KVM_REGS_SIZE);
    encodeRegs(b, regs);
    ioctlPtr(this.#fd, "KVM_SET_REGS", VCPU_IOCTLS.KVM_SET_REGS, b);
  }

  /** KVM_GET_SREGS. @example `vcpu.getSregs().cr0` */
  getSregs(): KvmSregs {
    const b = new Uint8Array(KVM_SREGS_SIZE);
    ioctlPtr(this.#fd, "KVM_GET_SREGS", VCPU_IOCTLS.KVM_GET_SREGS, b);
    return decodeSregs(b);
  }

  /** KVM_SET_SREGS. @example `vcpu.setSregs(sregs)` */
  setSregs(sregs: KvmSregs): void {
    const b = new Uint8Array(KVM_SREGS_SIZE);
    encodeSregs(b, sregs);
    ioctlPtr(this.#fd, "KVM_SET_SREGS", VCPU_IOCTLS.KVM_SET_SREGS, b);
  }

  /** KVM_GET_FPU into a raw `struct kvm_fpu`. @example `decodeFpu(vcpu.getFpu())` */
  getFpu(): Uint8Array {
    const b = new Uint8Array(KVM_FPU_SIZE);
    ioctlPtr(this.#fd, "KVM_GET_FPU", VCPU_IOCTLS.KVM_GET_FPU, b);
    return b;
  }

  /** KVM_SET_FPU from a raw `struct kvm_fpu`. @example `vcpu.setFpu(buf)` */
  setFpu(fpu: Uint8Array): void {
    ioctlPtr(this.#fd, "KVM_SET_FPU", VCPU_IOCTLS.KVM_SET_FPU, fpu);
  }

  /** KVM_SET_MSRS: returns how many entries KVM accepted (it stops at the first it refuses). @example `vcpu.setMsrs([{ index: 0x10, data: 0n }])` */
  setMsrs(entries: readonly MsrEntry[]): number {
    return ioctlPtr(this.#fd, "KVM_SET_MSRS", VCPU_IOCTLS.KVM_SET_MSRS, encodeMsrs(entries));
  }

  /** KVM_GET_MSRS for the given indexes (entries KVM could not read are left out). @example `vcpu.getMsrs([0x10])` */
  getMsrs(indexes: readonly number[]): MsrEntry[] {
    const b = encodeMsrs(indexes.map((index) => ({ index, data: 0n })));
    const n = ioctlPtr(this.#fd, "KVM_GET_MSRS", VCPU_IOCTLS.KVM_GET_MSRS, b);
    return decodeMsrs(b, n);
  }

  /** KVM_SET_CPUID2. @example `vcpu.setCpuid2(entries)` */
  setCpuid2(entries: readonly CpuidEntry[]): void {
    ioctlPtr(this.#fd, "KVM_SET_CPUID2", VCPU_IOCTLS.KVM_SET_CPUID2, encodeCpuid2(entries));
  }

  /** KVM_GET_LAPIC into a raw `struct kvm_lapic_state`. @example `vcpu.getLapic()` */
  getLapic(): Uint8Array {
    const b = new Uint8Array(KVM_LAPIC_STATE_SIZE);
    ioctlPtr(this.#fd, "KVM_GET_LAPIC", VCPU_IOCTLS.KVM_GET_LAPIC, b);
    return b;
  }

  /** KVM_SET_LAPIC from a raw `struct kvm_lapic_state`. @example `vcpu.setLapic(buf)` */
  setLapic(lapic: Uint8Array): void {
    ioctlPtr(this.#fd, "KVM_SET_LAPIC", VCPU_IOCTLS.KVM_SET_LAPIC, lapic);
  }

  /** KVM_GET_MP_STATE. @example `vcpu.getMpState() // KVM_MP_STATE.RUNNABLE` */
  getMpState(): number {
    const b = new Uint8Array(4);
    ioctlPtr(this.#fd, "KVM_GET_MP_STATE", VCPU_IOCTLS.KVM_GET_MP_STATE, b);
    return new DataView(b.buffer).getUint32(0, true);
  }

  /** Unmaps `kvm_run` (the fd itself belongs to whoever created the vCPU). @example `vcpu.unmap()` */
  unmap(): void {
    if (this.#unmapped) return;
    this.#unmapped = true;
    if (!this.#ownsMapping) return;
    libc.symbols.munmap(this.#run, BigInt(this.#runSize));
  }

  /** Unmaps `kvm_run` and closes the fd. @example `vcpu.close()` */
  close(): void {
    if (this.#closed) return;
    this.unmap();
    libc.symbols.close(this.#fd);
  }
}
