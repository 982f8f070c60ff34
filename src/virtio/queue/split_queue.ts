/**
 * The device side of a split virtqueue (virtio 1.2 §2.7): pops descriptor chains the driver
 * made available and returns them through the used ring, with EVENT_IDX and indirect
 * descriptors. Every guest address goes through {@link GuestMemory}; a malformed ring or chain
 * throws {@link VirtqueueError}, which the device turns into DEVICE_NEEDS_RESET.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import { memoryFence } from "./fence.ts";

/** Descriptor flags (§2.7.5). */
export const VIRTQ_DESC_F = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** avail.flags: the driver does not want interrupts (§2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** used.flags: the device does not want notifications (§2.7.10). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** Size of one descriptor in bytes. */
export const DESC_SIZE = 16;
/** Largest split queue (§2.7). */
export const MAX_QUEUE_SIZE = 32768;

/** A malformed ring or descriptor chain from the driver. */
export class VirtqueueError extends Error {
  /** @example `throw new VirtqueueError("descriptor chain loops")` */
  constructor(message: string) {
    super(message);
    this.name = "VirtqueueError";
  }
}

/** One guest buffer of a chain. */
export interface GuestBuffer {
  /** Guest-physical address (checked to lie in RAM). */
  readonly addr: number;
  /** Length in bytes. */
  readonly len: number;
}

/** A descriptor chain: its head index, then device-readable buffers before device-writable ones. */
export interface DescriptorChain {
  readonly head: number;
  readonly readable: GuestBuffer[];
  readonly writable: GuestBuffer[];
  /** Total bytes of the writable buffers. */
  readonly writableBytes: number;
}

/**
 * A descriptor chain walked into reusable arrays, for devices whose hot path may not allocate per
 * chain (see {@link SplitQueue.popInto}). Buffers `0 .. readableCount-1` are device-readable,
 * the `writableCount` after them device-writable.
 *
 * @example
 * ```ts
 * const chain = new ChainBuffers(256);
 * while (q.popInto(chain)) console.log(chain.head, chain.readableBytes, chain.writableBytes);
 * ```
 */
export class ChainBuffers {
  /** Head descriptor index (what {@link SplitQueue.addUsed} takes). */
  head = 0;
  /** Device-readable buffers (they come first). */
  readableCount = 0;
  /** Device-writable buffers (after the readable ones). */
  writableCount = 0;
  /** Total bytes of the readable buffers. */
  readableBytes = 0;
  /** Total bytes of the writable buffers. */
  writableBytes = 0;
  /** Guest-physical address of each buffer (checked to lie in RAM). */
  addr: Float64Array;
  /** Length of each buffer. */
  len: Uint32Array;
  /** Longest chain accepted; a longer one is a {@link VirtqueueError}. */
  readonly maxBuffers: number;

  /** @example `new ChainBuffers(256)` */
  constructor(maxBuffers: number, initialCapacity = Math.min(maxBuffers, 16)) {
    this.maxBuffers = maxBuffers;
    this.addr = new Float64Array(initialCapacity);
    this.len = new Uint32Array(initialCapacity);
  }

  /** Readable plus writable buffers. */
  get count(): number {
    return this.readableCount + this.writableCount;
  }

  /** Empties the chain (used by the queue before a walk). */
  reset(head: number): void {
    this.head = head;
    this.readableCount =
      this.writableCount =
      this.readableBytes =
      this.writableBytes =
        0;
  }

  /** Appends a buffer, growing the arrays up to {@link maxBuffers} (used by the queue's walk). */
  push(addr: number, len: number, writable: boolean): void {
    const i = this.count;
    if (i >= this.addr.length) this.#grow();
    this.addr[i] = addr;
    this.len[i] = len;
    if (writable) {
      this.writableCount++;
      this.writableBytes += len;
    } else {
      this.readableCount++;
      this.readableBytes += len;
    }
  }

  /** Copies another chain's contents (for devices that keep chains they popped). */
  copyFrom(o: ChainBuffers): void {
    this.reset(o.head);
    for (let i = 0; i < o.count; i++) this.push(o.addr[i], o.len[i], i >= o.readableCount);
  }

  #grow(): void {
    if (this.addr.length >= this.maxBuffers) {
      throw new VirtqueueError(`descriptor chain has more than ${this.maxBuffers} buffers`);
    }
    const n = Math.min(this.maxBuffers, Math.max(16, this.addr.length * 2));
    const addr = new Float64Array(n);
    const len = new Uint32Array(n);
    addr.set(this.addr);
    len.set(this.len);
    this.addr = addr;
    this.len = len;
  }
}

/** Guest addresses of a queue's three parts, as the driver set them. */
export interface QueueAddresses {
  desc: number;
  avail: number;
  used: number;
}

/**
 * The device view of one split virtqueue.
 *
 * @example
 * ```ts
 * const q = new SplitQueue(mem, 256, { desc, avail, used }, { eventIdx: true });
 * for (let c = q.pop(); c; c = q.pop()) q.addUsed(c.head, 0);
 * if (q.needsInterrupt()) irq.trigger();
 * ```
 */
export class SplitQueue {
  readonly #mem: GuestMemory;
  readonly #size: number;
  readonly #a: QueueAddresses;
  readonly #eventIdx: boolean;
  #lastAvail = 0;
  #usedIdx = 0;
  #signalledUsed = 0;
  #signalledValid = false;
  readonly #scratch: ChainBuffers;

  /**
   * Checks the ring addresses (alignment §2.7, every part inside guest RAM) and starts the
   * queue at index 0.
   *
   * @example
   * ```ts
   * new SplitQueue(mem, 8, { desc: 0x1000, avail: 0x2000, used: 0x3000 }, { eventIdx: false });
   * ```
   */
  constructor(mem: GuestMemory, size: number, a: QueueAddresses, o: { eventIdx: boolean }) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE) {
      throw new VirtqueueError(`queue size ${size} is not between 1 and ${MAX_QUEUE_SIZE}`);
    }
    if (a.desc % 16 !== 0 || a.avail % 2 !== 0 || a.used % 4 !== 0) {
      throw new VirtqueueError("queue ring addresses are misaligned");
    }
    const extra = o.eventIdx ? 2 : 0;
    const parts: [string, number, number][] = [
      ["descriptor table", a.desc, DESC_SIZE * size],
      ["available ring", a.avail, 4 + 2 * size + extra],
      ["used ring", a.used, 4 + 8 * size + extra],
    ];
    for (const [name, addr, len] of parts) {
      if (!mem.contains(addr, len)) {
        throw new VirtqueueError(
          `the ${name} (0x${addr.toString(16)}, ${len} bytes) is outside guest RAM`,
        );
      }
    }
    this.#mem = mem;
    this.#size = size;
    this.#a = { ...a };
    this.#eventIdx = o.eventIdx;
    // A direct chain ends at most in one indirect table: size + MAX_QUEUE_SIZE buffers.
    this.#scratch = new ChainBuffers(size + MAX_QUEUE_SIZE);
  }

  /** Whether VIRTIO_F_RING_EVENT_IDX is in use on this queue. */
  get eventIdx(): boolean {
    return this.#eventIdx;
  }

  /** Queue size. */
  get size(): number {
    return this.#size;
  }

  /** The next available-ring index the device will read. */
  get lastAvail(): number {
    return this.#lastAvail;
  }

  /** The next used-ring index the device will write. */
  get usedIdx(): number {
    return this.#usedIdx;
  }

  /** The driver's avail.idx. */
  availIdx(): number {
    return this.#mem.readU16(this.#a.avail + 2);
  }

  /** How many chains the driver has made available and the device not yet popped. */
  pending(): number {
    const n = (this.availIdx() - this.#lastAvail) & 0xffff;
    if (n > this.#size) {
      throw new VirtqueueError(`avail.idx moved ${n} entries ahead on a queue of ${this.#size}`);
    }
    return n;
  }

  /**
   * Pops the next available chain, or returns null when there is none.
   *
   * @example
   * ```ts
   * const chain = q.pop();
   * ```
   */
  pop(): DescriptorChain | null {
    if (this.pending() === 0) return null;
    const c = this.#scratch;
    this.#walkInto(this.#nextHead(), c);
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    if (this.#eventIdx) {
      // avail_event: ask to be notified when the driver adds past what was just taken.
      this.#mem.writeU16(this.#a.used + 4 + 8 * this.#size, this.#lastAvail);
      // The next pending() reads avail.idx: that load must not pass this store, or a driver
      // that read the old avail_event skips its kick while the device goes idle (§2.7.10).
      memoryFence();
    }
    const readable: GuestBuffer[] = [];
    const writable: GuestBuffer[] = [];
    for (let i = 0; i < c.count; i++) {
      (i < c.readableCount ? readable : writable).push({ addr: c.addr[i], len: c.len[i] });
    }
    return { head: c.head, readable, writable, writableBytes: c.writableBytes };
  }

  /**
   * Pops the next available chain into `out` without allocating; false when there is none.
   *
   * Unlike {@link pop} it leaves avail_event alone, as vhost does: while a device is busy the
   * driver need not kick it. A device using it calls {@link setNotification}(true) when it runs
   * out of chains, then checks {@link pending} once more before it sleeps.
   *
   * @example
   * ```ts
   * const chain = new ChainBuffers(q.size);
   * while (q.popInto(chain)) serve(chain);
   * ```
   */
  popInto(out: ChainBuffers): boolean {
    if (this.pending() === 0) return false;
    this.#walkInto(this.#nextHead(), out);
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    return true;
  }

  /**
   * Puts back the last popped chain so the next {@link pop} returns it again (used when a
   * backend cannot take the request yet, e.g. a full tap).
   *
   * @example
   * ```ts
   * q.undoPop();
   * ```
   */
  undoPop(): void {
    this.#lastAvail = (this.#lastAvail - 1) & 0xffff;
  }

  #nextHead(): number {
    return this.#mem.readU16(this.#a.avail + 4 + 2 * (this.#lastAvail % this.#size));
  }

  // Walks the chain at `head` into `out`. Addresses are read as two u32 halves so the walk
  // allocates nothing (a u64 read would make a BigInt per descriptor).
  #walkInto(head: number, out: ChainBuffers): void {
    if (head >= this.#size) {
      throw new VirtqueueError(`descriptor head ${head} is beyond the queue size ${this.#size}`);
    }
    out.reset(head);
    const mem = this.#mem;
    let table = this.#a.desc;
    let tableSize = this.#size;
    let index = head;
    let indirect = false;
    // Any chain, indirect included, has at most as many descriptors as its table: more means a loop.
    for (let count = 0;; count++) {
      if (count >= tableSize) {
        throw new VirtqueueError("descriptor chain loops or is longer than its table");
      }
      const d = table + DESC_SIZE * index;
      const lo = mem.readU32(d);
      const hi = mem.readU32(d + 4);
      const len = mem.readU32(d + 8);
      const flags = mem.readU16(d + 12);
      const next = mem.readU16(d + 14);
      if (flags & VIRTQ_DESC_F.INDIRECT) {
        if (indirect) throw new VirtqueueError("indirect descriptor inside an indirect table");
        if (flags & VIRTQ_DESC_F.NEXT) {
          throw new VirtqueueError("indirect descriptor with NEXT set");
        }
        if (len === 0 || len % DESC_SIZE !== 0 || len / DESC_SIZE > MAX_QUEUE_SIZE) {
          throw new VirtqueueError(
            `indirect table length ${len} is not a whole number of descriptors`,
          );
        }
        table = this.#checkedAddr(lo, hi, len);
        tableSize = len / DESC_SIZE;
        index = 0;
        indirect = true;
        count = -1;
        continue;
      }
      const addr = this.#checkedAddr(lo, hi, len);
      if (flags & VIRTQ_DESC_F.WRITE) {
        out.push(addr, len, true);
      } else {
        if (out.writableCount > 0) {
          throw new VirtqueueError("device-readable descriptor after a device-writable one");
        }
        out.push(addr, len, false);
      }
      if ((flags & VIRTQ_DESC_F.NEXT) === 0) break;
      if (next >= tableSize) {
        throw new VirtqueueError(`next descriptor ${next} is beyond its table`);
      }
      index = next;
    }
  }

  #checkedAddr(lo: number, hi: number, len: number): number {
    // hi < 2^21 keeps the address a safe integer.
    if (hi >= 0x20_0000) {
      const full = (BigInt(hi) << 32n) | BigInt(lo);
      throw new VirtqueueError(`buffer address 0x${full.toString(16)} is outside guest RAM`);
    }
    const a = hi * 2 ** 32 + lo;
    if (!this.#mem.contains(a, len)) {
      throw new VirtqueueError(`buffer 0x${a.toString(16)} + ${len} is outside guest RAM`);
    }
    return a;
  }

  /**
   * Returns a chain to the driver with the number of bytes the device wrote into it. With
   * `publish` false the entry stays invisible until {@link publishUsed}.
   *
   * @example
   * ```ts
   * q.addUsed(chain.head, 512);
   * ```
   */
  addUsed(head: number, written: number, publish = true): void {
    const slot = this.#a.used + 4 + 8 * (this.#usedIdx % this.#size);
    this.#mem.writeU32(slot, head);
    this.#mem.writeU32(slot + 4, written);
    this.#usedIdx = (this.#usedIdx + 1) & 0xffff;
    // The ring entry is stored before the index that publishes it (x86 keeps store order).
    if (publish) this.#mem.writeU16(this.#a.used + 2, this.#usedIdx);
  }

  /**
   * Publishes used.idx after entries added with `addUsed(head, len, false)`: the driver sees
   * them all at once (what a packet spread over several buffers needs, §5.1.6.4).
   *
   * @example
   * ```ts
   * q.addUsed(a, 4096, false);
   * q.addUsed(b, 100, false);
   * q.publishUsed();
   * ```
   */
  publishUsed(): void {
    this.#mem.writeU16(this.#a.used + 2, this.#usedIdx);
  }

  /**
   * Whether the driver wants an interrupt for what was added since the last interrupt
   * (§2.7.7: avail.flags, or used_event with EVENT_IDX). Call once after a batch of addUsed.
   *
   * @example
   * ```ts
   * if (q.needsInterrupt()) irq.trigger();
   * ```
   */
  needsInterrupt(): boolean {
    const newIdx = this.#usedIdx;
    const old = this.#signalledUsed;
    const valid = this.#signalledValid;
    this.#signalledUsed = newIdx;
    this.#signalledValid = true;
    // used.idx was stored by addUsed: it must be visible before used_event / avail.flags are
    // read, or the driver and the device can each miss the other's update (vhost: smp_mb()).
    memoryFence();
    if (!this.#eventIdx) {
      return (this.#mem.readU16(this.#a.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (!valid) return true;
    const usedEvent = this.#mem.readU16(this.#a.avail + 4 + 2 * this.#size);
    // vring_need_event: did new_idx step past used_event since the last signal?
    return ((newIdx - usedEvent - 1) & 0xffff) < ((newIdx - old) & 0xffff);
  }

  /**
   * Tells the driver whether to notify the device (used.flags, without EVENT_IDX).
   *
   * @example
   * ```ts
   * q.setNotification(false); // polling: no kicks needed
   * ```
   */
  setNotification(enabled: boolean): void {
    if (this.#eventIdx) {
      this.#mem.writeU16(this.#a.used + 4 + 8 * this.#size, this.#lastAvail);
    } else {
      this.#mem.writeU16(this.#a.used, enabled ? 0 : VIRTQ_USED_F_NO_NOTIFY);
    }
  }
}
