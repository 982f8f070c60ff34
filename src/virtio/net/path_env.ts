/**
 * What the receive and transmit paths of a net device share: guest memory, the backend, the
 * negotiated features, the counters and the device's signals.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import type { NetBackend } from "./backend.ts";

/** Counters for metrics (frames and bytes exclude the 12-byte virtio-net header). */
export interface NetCounters {
  /** Frames delivered to the guest. */
  rxFrames: number;
  /** Bytes delivered to the guest. */
  rxBytes: number;
  /** Of the frames delivered, those that came whole with segmentation offload (GSO). */
  rxGsoFrames: number;
  /** Frames read from the tap that the guest's buffers could not take (too big, runt, bad offload). */
  rxDrops: number;
  /** Times the device stopped reading the tap because the guest had no receive buffers. */
  rxStalls: number;
  /** Frames the guest sent that reached the tap. */
  txFrames: number;
  /** Bytes the guest sent that reached the tap. */
  txBytes: number;
  /** Of the frames sent, those the guest left to segment (TSO). */
  txGsoFrames: number;
  /** Frames the tap refused (link down, a header the kernel rejects). */
  txDrops: number;
  /** Times the tap was full and the device waited for room. */
  txWaits: number;
  /** Malformed chains and frames from the driver, tap I/O errors. */
  errors: number;
}

/** A fresh set of zero counters. @example `const c = newNetCounters();` */
export function newNetCounters(): NetCounters {
  return {
    rxFrames: 0,
    rxBytes: 0,
    rxGsoFrames: 0,
    rxDrops: 0,
    rxStalls: 0,
    txFrames: 0,
    txBytes: 0,
    txGsoFrames: 0,
    txDrops: 0,
    txWaits: 0,
    errors: 0,
  };
}

/** The device's side of a path. */
export interface NetPathEnv {
  readonly name: string;
  readonly mem: GuestMemory;
  readonly backend: NetBackend;
  /** The negotiated features' low 32 bits (every net feature the device offers is there). */
  readonly featureBits: number;
  readonly counters: NetCounters;
  /** Raises the device's used-buffer interrupt. */
  notifyUsed(): void;
  /** The path wants (or no longer wants) the backend's readable / writable events. */
  wantReadable(on: boolean): void;
  wantWritable(on: boolean): void;
  /** A driver error the device cannot recover from: DEVICE_NEEDS_RESET. */
  fail(e: unknown): void;
}
