/**
 * The interface between the virtio-mmio transport and a device model (virtio 1.2 §2: feature
 * bits, configuration space, virtqueues, reset). The transport owns the registers and the status
 * state machine; a device only says what it offers and serves its queues once activated.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import type { SplitQueue } from "./queue/split_queue.ts";

/** Device IDs (§5). */
export const VIRTIO_ID = { NET: 1, BLOCK: 2, CONSOLE: 3, RNG: 4, VSOCK: 19 } as const;

/** Feature bits common to every device (§6). */
export const VIRTIO_F = {
  RING_INDIRECT_DESC: 28n,
  RING_EVENT_IDX: 29n,
  VERSION_1: 32n,
  ACCESS_PLATFORM: 33n,
} as const;

/** The bit mask of a feature number. @example `bit(VIRTIO_F.VERSION_1)` */
export function bit(feature: bigint): bigint {
  return 1n << feature;
}

/** What an activated device gets from the transport. */
export interface ActivateContext {
  /** Guest RAM, for the device's buffers. */
  readonly mem: GuestMemory;
  /** One queue per index the driver enabled (undefined where it did not). */
  readonly queues: readonly (SplitQueue | undefined)[];
  /** The features the driver accepted. */
  readonly features: bigint;
  /** Signals a used-buffer interrupt (sets InterruptStatus bit 0 and injects). */
  readonly notifyUsed: () => void;
  /** Signals a configuration change (InterruptStatus bit 1). */
  readonly notifyConfig: () => void;
  /** Puts the device in DEVICE_NEEDS_RESET after a driver error it cannot recover from. */
  readonly needsReset: (reason: string) => void;
}

/**
 * A virtio device as the transport sees it.
 *
 * @example
 * ```ts
 * class Rng implements VirtioDevice { ... }
 * const transport = new MmioTransport(new Rng(), mem, irq);
 * ```
 */
export interface VirtioDevice {
  /** Device ID (§5). */
  readonly deviceId: number;
  /** Short name for logs and metrics ("blk0"). */
  readonly name: string;
  /** Features offered (VERSION_1 must be among them). */
  readonly features: bigint;
  /** Maximum size of each queue; the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Reads device configuration space (offset from 0x100). Out-of-range bytes read as 0. */
  readConfig(offset: number, data: Uint8Array): void;
  /** Writes device configuration space; read-only fields ignore writes. */
  writeConfig(offset: number, data: Uint8Array): void;
  /** The driver set DRIVER_OK: start serving the queues. */
  activate(ctx: ActivateContext): void;
  /** The driver notified queue `index` (ioeventfd or a QueueNotify exit). */
  queueNotify(index: number): void;
  /** Device reset: drop all queue state; in-flight work completes without touching the queues. */
  reset(): void;
  /** Resolves when no backend I/O still targets guest memory (called before RAM is unmapped). */
  quiesce(): Promise<void>;
}
