/**
 * KVM ioctl request numbers and capability/exit constants, grouped by the kind of fd they are
 * issued on (`/dev/kvm`, a VM fd, a vCPU fd), and the tap ioctls on a `/dev/net/tun` fd. Numbers
 * follow `<linux/kvm.h>` and `<linux/if_tun.h>` for x86-64; each is built with the `_IO*` encoding
 * so its direction and argument size are visible.
 *
 * @example
 * ```ts
 * import { VM_IOCTLS } from "./kvm_ioctls.ts";
 * VM_IOCTLS.KVM_CREATE_IRQCHIP; // 0xae60
 * ```
 * @module
 */

const KVMIO = 0xae;
const io = (nr: number) => (KVMIO << 8) | nr;
const ioc = (dir: number, nr: number, size: number) =>
  ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
const iow = (nr: number, size: number) => ioc(1, nr, size);
const ior = (nr: number, size: number) => ioc(2, nr, size);
const iowr = (nr: number, size: number) => ioc(3, nr, size);

/** ioctls on the `/dev/kvm` system fd. */
export const SYSTEM_IOCTLS = {
  KVM_GET_API_VERSION: io(0x00),
  KVM_CREATE_VM: io(0x01),
  KVM_GET_MSR_INDEX_LIST: iowr(0x02, 4),
  KVM_CHECK_EXTENSION: io(0x03),
  KVM_GET_VCPU_MMAP_SIZE: io(0x04),
  KVM_GET_SUPPORTED_CPUID: iowr(0x05, 8),
} as const;

/** ioctls on a VM fd. */
export const VM_IOCTLS = {
  KVM_CREATE_VCPU: io(0x41),
  KVM_SET_USER_MEMORY_REGION: iow(0x46, 32),
  KVM_SET_TSS_ADDR: io(0x47),
  KVM_SET_IDENTITY_MAP_ADDR: iow(0x48, 8),
  KVM_CREATE_IRQCHIP: io(0x60),
  KVM_IRQ_LINE: iow(0x61, 8),
  KVM_IRQFD: iow(0x76, 32),
  KVM_CREATE_PIT2: iow(0x77, 64),
  KVM_IOEVENTFD: iow(0x79, 64),
  KVM_CHECK_EXTENSION: io(0x03),
} as const;

/** ioctls on a vCPU fd. */
export const VCPU_IOCTLS = {
  KVM_RUN: io(0x80),
  KVM_GET_REGS: ior(0x81, 144),
  KVM_SET_REGS: iow(0x82, 144),
  KVM_GET_SREGS: ior(0x83, 312),
  KVM_SET_SREGS: iow(0x84, 312),
  KVM_GET_MSRS: iowr(0x88, 8),
  KVM_SET_MSRS: iow(0x89, 8),
  KVM_GET_FPU: ior(0x8c, 416),
  KVM_SET_FPU: iow(0x8d, 416),
  KVM_GET_LAPIC: ior(0x8e, 1024),
  KVM_SET_LAPIC: iow(0x8f, 1024),
  KVM_SET_CPUID2: iow(0x90, 8),
  KVM_GET_CPUID2: iowr(0x91, 8),
  KVM_GET_MP_STATE: ior(0x98, 4),
  KVM_SET_MP_STATE: iow(0x99, 4),
} as const;

const TUNIO = 0x54; // 'T'
const tunIoc = (dir: number, nr: number, size: number) =>
  ((dir << 30) | (size << 16) | (TUNIO << 8) | nr) >>> 0;

/** ioctls on a `/dev/net/tun` fd (`<linux/if_tun.h>`). */
export const TUN_IOCTLS = {
  /** Attach the fd to the interface named in a `struct ifreq` (creates one if none exists). */
  TUNSETIFF: tunIoc(1, 202, 4),
  /** Which offloads the tap may hand to this fd (TUN_F_* in the integer argument). */
  TUNSETOFFLOAD: tunIoc(1, 208, 4),
  /** Fills a `struct ifreq` with the attached interface's name and flags. */
  TUNGETIFF: tunIoc(2, 210, 4),
  /** Size of the virtio-net header before every frame (`int *`). */
  TUNSETVNETHDRSZ: tunIoc(1, 216, 4),
} as const;

/** `ifr_flags` for TUNSETIFF. */
export const IFF_TUN_FLAGS = {
  TAP: 0x0002,
  NO_PI: 0x1000,
  MULTI_QUEUE: 0x0100,
  VNET_HDR: 0x4000,
} as const;

/** TUNSETOFFLOAD bits: the frames this fd accepts from the tap. */
export const TUN_F = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, TSO_ECN: 0x08, UFO: 0x10 } as const;

/** The only KVM API version there has ever been. */
export const KVM_API_VERSION = 12;

/** Capabilities queried with KVM_CHECK_EXTENSION. */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT2: 33,
  IRQFD: 32,
  IOEVENTFD: 36,
  MAX_VCPUS: 66,
  SIGNAL_MSI: 77,
  SPLIT_IRQCHIP: 121,
  IMMEDIATE_EXIT: 136,
} as const;

/** `kvm_run.exit_reason` values. */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

/**
 * The name of an exit reason ("IO", "MMIO", ...), for logs and metrics.
 *
 * @example
 * ```ts
 * exitReasonName(2); // "IO"
 * ```
 */
export function exitReasonName(reason: number): string {
  for (const [name, value] of Object.entries(KVM_EXIT)) if (value === reason) return name;
  return `exit ${reason}`;
}

/** `kvm_run.io.direction`. */
export const KVM_EXIT_IO_IN = 0;
/** `kvm_run.io.direction`: guest wrote. */
export const KVM_EXIT_IO_OUT = 1;
/** KVM_SYSTEM_EVENT types. */
export const KVM_SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;
/** kvm_ioeventfd.flags bits. */
export const KVM_IOEVENTFD_FLAG = { DATAMATCH: 1, PIO: 2, DEASSIGN: 4 } as const;
/** kvm_irqfd.flags bits. */
export const KVM_IRQFD_FLAG = { DEASSIGN: 1, RESAMPLE: 2 } as const;
/** kvm_mp_state values. */
export const KVM_MP_STATE = { RUNNABLE: 0, UNINITIALIZED: 1, INIT_RECEIVED: 2, HALTED: 3 } as const;
