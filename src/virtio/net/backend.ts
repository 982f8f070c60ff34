/**
 * What the virtio-net device needs from the host side of its link. The tap backend is the one
 * denovmm ships ({@link ./tap_backend.ts}); unit tests plug in a fake.
 *
 * Every frame in either direction starts with the 12-byte `virtio_net_hdr_v1`. Calls on the
 * data path return numbers instead of throwing, so a busy link allocates nothing.
 *
 * @module
 */

import type { IoVecs } from "./iovecs.ts";

/** What {@link NetBackend.readv} and {@link NetBackend.writev} return when the call would block. */
export const WOULD_BLOCK = -11; // -EAGAIN

/** Readiness callbacks a device registers with its backend. */
export interface NetBackendHandlers {
  /** A frame can be read (only while readable interest is on). */
  readable(): void;
  /** A frame can be written again after {@link WOULD_BLOCK} (only while writable interest is on). */
  writable(): void;
  /** The link is gone for good (the tap was deleted); `reason` says why. */
  failed(reason: string): void;
}

/**
 * A frame source and sink.
 *
 * @example
 * ```ts
 * backend.attach({ readable: () => rx(), writable: () => tx(), failed: (r) => log.warn(r) });
 * backend.setInterest(true, false);
 * const n = backend.readv(iov); // bytes (header included), WOULD_BLOCK, or -errno
 * ```
 */
export interface NetBackend {
  /** Host-side name, for messages ("tap0"). */
  readonly name: string;
  /** Registers the device's callbacks; a later call replaces them (interest starts off). */
  attach(handlers: NetBackendHandlers): void;
  /** Which readiness the device wants to hear about. Cheap when nothing changes. */
  setInterest(readable: boolean, writable: boolean): void;
  /**
   * Reads one frame into `iov`: its length, {@link WOULD_BLOCK} when no frame is waiting, or
   * another negative errno. A frame longer than `iov` is cut short and the rest lost; kernels
   * differ in whether they then report the full or the cut length, so callers give room for
   * the largest frame.
   */
  readv(iov: IoVecs): number;
  /** Writes one frame from `iov`: its length, {@link WOULD_BLOCK}, or another negative errno. */
  writev(iov: IoVecs): number;
  /** Which offloads (TUN_F_*) the frames read from here may carry. */
  setOffload(tunFlags: number): void;
  /** Releases the link. */
  close(): void;
}
