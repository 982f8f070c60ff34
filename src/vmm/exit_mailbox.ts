/**
 * The shared-memory mailbox between a vCPU Worker and the main thread.
 *
 * A vCPU exit that needs a device (PIO or MMIO) is posted here instead of through
 * `postMessage`, so the round trip allocates nothing: the Worker writes the access, flips
 * {@link MB.STATE} to {@link STATE.REQUEST} and blocks in `Atomics.wait`; the main thread, woken
 * by `Atomics.waitAsync`, runs the device, writes read data back and flips the state to
 * {@link STATE.REPLY}.
 *
 * @example
 * ```ts
 * const mb = new Int32Array(new SharedArrayBuffer(MAILBOX_BYTES));
 * mb[MB.STATE] = STATE.IDLE;
 * ```
 * @module
 */

/** Int32 slots of the mailbox. */
export const MB = {
  /** One of {@link STATE}. */
  STATE: 0,
  /** One of {@link ACCESS}. */
  KIND: 1,
  /** Access size in bytes (1, 2, 4 or 8). */
  SIZE: 2,
  /** Low 32 bits of the port or guest-physical address. */
  ADDR_LO: 3,
  /** High 32 bits of the address. */
  ADDR_HI: 4,
  /** 8 data bytes (slots 5 and 6), little-endian as on the bus. */
  DATA: 5,
  /** Set to 1 by the main thread when the vCPU must stop. */
  STOP: 7,
  /** Set to 1 by the main thread to park the vCPU outside `KVM_RUN` (pause); 0 resumes it. */
  PAUSE: 8,
  /** Set to 1 by the Worker while it is parked, so the main thread knows the pause took hold. */
  PARKED: 9,
} as const;

/** Mailbox size in bytes. */
export const MAILBOX_BYTES = 40;
/** Byte offset of the data bytes inside the mailbox. */
export const MAILBOX_DATA_OFFSET = MB.DATA * 4;

/** Values of the {@link MB.STATE} slot. */
export const STATE = { IDLE: 0, REQUEST: 1, REPLY: 2 } as const;

/** Values of the {@link MB.KIND} slot. */
export const ACCESS = { PIO_IN: 1, PIO_OUT: 2, MMIO_READ: 3, MMIO_WRITE: 4 } as const;

/** Messages a vCPU Worker posts for rare events (never per exit). */
export type VcpuEvent =
  | { type: "started"; id: number; thread: bigint }
  | { type: "stopped"; id: number; reason: VcpuStopReason };

/** Why a vCPU's run loop ended. */
export type VcpuStopReason =
  | { kind: "requested" }
  | { kind: "hlt" }
  | { kind: "shutdown" }
  | { kind: "system-event"; event: number }
  | { kind: "internal-error"; suberror: number; data: bigint[]; state: VcpuState }
  | { kind: "fail-entry"; hardwareReason: bigint; state: VcpuState }
  | { kind: "error"; message: string; state?: VcpuState };

/** A vCPU's registers, captured when it stops on an error. */
export interface VcpuState {
  regs: Record<string, bigint>;
  sregs: { cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint; cs: number; csBase: bigint };
}

/** Messages the main thread posts to a vCPU Worker. */
export interface VcpuInit {
  id: number;
  fd: number;
  runAddr: bigint;
  runSize: number;
  mailbox: SharedArrayBuffer;
  /** When true, a HLT exit ends the run loop (only reachable without the in-kernel irqchip). */
  stopOnHlt: boolean;
}
