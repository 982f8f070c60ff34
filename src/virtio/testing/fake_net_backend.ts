/**
 * A NetBackend in plain memory for device tests: frames queued with {@link FakeNetBackend.inject}
 * are what a tap read returns (vnet header first), frames the device writes are recorded. It
 * keeps the semantics of a recent kernel's tap: a read into too small an iovec array cuts the
 * frame and reports the cut length, and a read with nothing queued returns WOULD_BLOCK.
 *
 * Once warm it allocates nothing per frame (views onto the device's buffers are cached by
 * address), so tests can watch the device's own allocations.
 *
 * @module
 */

import { type NetBackend, type NetBackendHandlers, WOULD_BLOCK } from "../net/backend.ts";
import type { IoVecs } from "../net/iovecs.ts";

/**
 * The fake.
 *
 * @example
 * ```ts
 * const be = new FakeNetBackend();
 * const dev = new NetDevice("net0", be);
 * be.inject(frameWithHeader);
 * be.fireReadable();
 * ```
 */
export class FakeNetBackend implements NetBackend {
  readonly name: string;
  handlers?: NetBackendHandlers;
  readable = false;
  writable = false;
  /** Last TUNSETOFFLOAD value. */
  offload = -1;
  /** Frames waiting to be read. */
  readonly inbox: Uint8Array[] = [];
  /** Copies of the frames written, header included (unless `keepSent` is false). */
  readonly sent: Uint8Array[] = [];
  keepSent = true;
  sentFrames = 0;
  sentBytes = 0;
  /** When set, writev returns it instead of taking the frame (WOULD_BLOCK, -EIO, ...). */
  writeResult?: number;
  /** Serve the inbox round and round instead of consuming it (long allocation-free runs). */
  loop = false;
  #next = 0;
  closed = false;
  // Views by host address, keyed by its high and low 30 bits: small-integer keys, so a warm
  // lookup allocates nothing.
  readonly #views = new Map<number, Map<number, Uint8Array>>();

  /** @example `new FakeNetBackend("tap-test")` */
  constructor(name = "fake0") {
    this.name = name;
  }

  attach(handlers: NetBackendHandlers): void {
    this.handlers = handlers;
  }

  setInterest(readable: boolean, writable: boolean): void {
    this.readable = readable;
    this.writable = writable;
  }

  /** Queues a frame (vnet header + Ethernet frame) for the device to read. */
  inject(frame: Uint8Array): void {
    this.inbox.push(frame);
  }

  /** Delivers a readable event if the device asked for one; true when it did. */
  fireReadable(): boolean {
    if (!this.readable) return false;
    this.handlers?.readable();
    return true;
  }

  /** Delivers a writable event if the device asked for one. */
  fireWritable(): boolean {
    if (!this.writable) return false;
    this.handlers?.writable();
    return true;
  }

  readv(iov: IoVecs): number {
    const frame = this.loop ? this.inbox[this.#next++ % this.inbox.length] : this.inbox.shift();
    if (frame === undefined) return WOULD_BLOCK;
    let at = 0;
    for (let i = 0; i < iov.count && at < frame.length; i++) {
      const n = Math.min(iov.length(i), frame.length - at);
      const view = this.#view(iov.base(i), iov.length(i));
      for (let k = 0; k < n; k++) view[k] = frame[at + k];
      at += n;
    }
    return at;
  }

  writev(iov: IoVecs): number {
    if (this.writeResult !== undefined) return this.writeResult;
    this.sentFrames++;
    this.sentBytes += iov.total;
    if (this.keepSent) {
      const out = new Uint8Array(iov.total);
      let at = 0;
      for (let i = 0; i < iov.count; i++) {
        out.set(this.#view(iov.base(i), iov.length(i)), at);
        at += iov.length(i);
      }
      this.sent.push(out);
    }
    return iov.total;
  }

  setOffload(tunFlags: number): void {
    this.offload = tunFlags;
  }

  close(): void {
    this.closed = true;
  }

  #view(addr: number, len: number): Uint8Array {
    const hi = Math.floor(addr / 2 ** 30);
    const lo = addr % 2 ** 30;
    let inner = this.#views.get(hi);
    if (inner === undefined) this.#views.set(hi, inner = new Map());
    const v = inner.get(lo);
    if (v !== undefined && v.length === len) return v;
    const p = Deno.UnsafePointer.create(BigInt(addr));
    const nv = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p!, len));
    inner.set(lo, nv);
    return nv;
  }
}
