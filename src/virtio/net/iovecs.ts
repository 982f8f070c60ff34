/**
 * A preallocated `struct iovec` array for readv(2)/writev(2): the net device fills it with host
 * pointers into guest RAM (and into its own header and overflow buffers) and hands it to the
 * backend, so frames move between the tap and the guest without a copy and without allocating.
 *
 * @module
 */

import { IOV_MAX } from "../../../ffi/libc.ts";
import type { GuestMemory } from "../../memory/guest_memory.ts";
import type { ChainBuffers } from "../queue/split_queue.ts";

const IOVEC_SIZE = 16; // struct iovec { void *iov_base; size_t iov_len; } on x86-64
const TWO_32 = 2 ** 32;

/**
 * Up to `capacity` iovecs.
 *
 * @example
 * ```ts
 * const iov = new IoVecs(4);
 * iov.push(hostPointer, 1514);
 * libc.symbols.writev(fd, iov.bytes, iov.count);
 * ```
 */
export class IoVecs {
  /** The `struct iovec[capacity]` bytes, passed to FFI as a buffer. */
  readonly bytes: Uint8Array;
  /** How many iovecs are filled. */
  count = 0;
  /** Sum of the filled lengths. */
  total = 0;
  readonly #words: Uint32Array;

  /** @example `new IoVecs(IOV_MAX)` */
  constructor(capacity: number = IOV_MAX) {
    if (capacity < 1 || capacity > IOV_MAX) {
      throw new RangeError(`an iovec array holds 1 to ${IOV_MAX} entries, not ${capacity}`);
    }
    this.bytes = new Uint8Array(capacity * IOVEC_SIZE);
    this.#words = new Uint32Array(this.bytes.buffer);
  }

  /** How many iovecs fit. */
  get capacity(): number {
    return this.#words.length / 4;
  }

  /** Empties the array. */
  clear(): void {
    this.count = 0;
    this.total = 0;
  }

  /**
   * Appends `[hostAddr, hostAddr + len)`. Zero-length buffers are skipped. The caller checks
   * {@link capacity} first.
   */
  push(hostAddr: number, len: number): void {
    if (len === 0) return;
    const w = this.count * 4;
    // 64-bit fields written as two 32-bit halves: no BigInt on the hot path.
    this.#words[w] = hostAddr % TWO_32;
    this.#words[w + 1] = Math.floor(hostAddr / TWO_32);
    this.#words[w + 2] = len;
    this.#words[w + 3] = 0;
    this.count++;
    this.total += len;
  }

  /** Host address of entry `i`. */
  base(i: number): number {
    return this.#words[i * 4 + 1] * TWO_32 + this.#words[i * 4];
  }

  /** Length of entry `i`. */
  length(i: number): number {
    return this.#words[i * 4 + 2];
  }
}

/**
 * `n` zeroed bytes whose host address never changes, for iovecs that point at the device's own
 * buffers. An explicit ArrayBuffer always keeps its bytes outside the V8 heap; a small
 * `new Uint8Array(n)` may live inside it, where the garbage collector moves it.
 *
 * @example
 * ```ts
 * const hdr = fixedBytes(12);
 * iov.push(addressOf(hdr), 12);
 * ```
 */
export function fixedBytes(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

/**
 * The host address of a typed array's first byte, as a number (made with {@link fixedBytes},
 * or any large ArrayBuffer; the caller keeps it alive).
 *
 * @example
 * ```ts
 * const p = addressOf(fixedBytes(64));
 * ```
 */
export function addressOf(bytes: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/**
 * Appends buffers `first .. first+count-1` of `chain` as host iovecs, leaving out their first
 * `skip` bytes (the virtio-net header, which goes through the device's own buffer). The caller
 * checks that `count` more iovecs fit.
 *
 * @example
 * ```ts
 * pushChainBuffers(iov, mem, chain, 0, chain.readableCount, NET_HDR_SIZE); // a frame to send
 * ```
 */
export function pushChainBuffers(
  iov: IoVecs,
  mem: GuestMemory,
  chain: ChainBuffers,
  first: number,
  count: number,
  skip: number,
): void {
  for (let i = first; i < first + count; i++) {
    const len = chain.len[i];
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const a = chain.addr[i] + skip;
    const n = len - skip;
    skip = 0;
    iov.push(mem.hostAddressNumber(a, n), n);
  }
}
