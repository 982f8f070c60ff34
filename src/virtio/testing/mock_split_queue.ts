/**
 * A driver-side split virtqueue in plain memory, for testing devices without a guest: it lays out
 * a descriptor table, available ring and used ring in a {@link GuestMemory}, adds chains as a
 * driver would, and reads back what the device returned.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import { DESC_SIZE, type QueueAddresses, VIRTQ_DESC_F } from "../queue/split_queue.ts";

/** A buffer the mock driver puts in a chain. */
export interface MockBuffer {
  /** Guest-physical address; the mock allocates one from its data area when omitted. */
  addr?: number;
  /** Length in bytes (defaults to `data.length`). */
  len?: number;
  /** Contents for a device-readable buffer. */
  data?: Uint8Array;
  /** Device-writable. */
  write?: boolean;
}

/** A raw descriptor, for building malformed tables. */
export interface RawDescriptor {
  addr: bigint | number;
  len: number;
  flags: number;
  next: number;
}

/**
 * The driver half of a split virtqueue.
 *
 * @example
 * ```ts
 * const mem = GuestMemory.fromBuffers(1 << 20);
 * const q = new MockSplitQueue(mem, 0x1000, 16);
 * const head = q.addChain([{ data: new Uint8Array([1, 2]) }, { len: 64, write: true }]);
 * // ... the device pops and completes it ...
 * q.used(); // [{ id: head, len: ... }]
 * ```
 */
export class MockSplitQueue {
  readonly mem: GuestMemory;
  readonly size: number;
  readonly addresses: QueueAddresses;
  #nextDesc = 0;
  #availIdx = 0;
  #usedSeen = 0;
  #dataNext: number;
  readonly #dataEnd: number;

  /**
   * Lays the rings out from `base`; buffers are allocated from `base + 64 KiB` up to
   * `base + dataBytes`.
   *
   * @example
   * ```ts
   * new MockSplitQueue(mem, 0x10000, 256);
   * ```
   */
  constructor(mem: GuestMemory, base: number, size: number, dataBytes = 1 << 20) {
    this.mem = mem;
    this.size = size;
    const desc = base;
    const avail = desc + DESC_SIZE * size;
    const used = (avail + 6 + 2 * size + 3) & ~3;
    this.addresses = { desc, avail, used };
    this.#dataNext = (used + 6 + 8 * size + 0xfff) & ~0xfff;
    this.#dataEnd = base + dataBytes;
  }

  /** Allocates `len` bytes from the mock's data area (8-byte aligned). */
  alloc(len: number): number {
    const at = this.#dataNext;
    this.#dataNext = (at + len + 7) & ~7;
    if (this.#dataNext > this.#dataEnd) throw new Error("MockSplitQueue data area exhausted");
    return at;
  }

  /** Writes one raw descriptor at `index` of the table at `table` (the queue's by default). */
  writeDescriptor(index: number, d: RawDescriptor, table = this.addresses.desc): void {
    const at = table + DESC_SIZE * index;
    this.mem.writeU64(at, BigInt(d.addr));
    this.mem.writeU32(at + 8, d.len);
    this.mem.writeU16(at + 12, d.flags);
    this.mem.writeU16(at + 14, d.next);
  }

  /** Makes descriptor `head` available (publishes the avail entry, then avail.idx). */
  publish(head: number): void {
    this.mem.writeU16(this.addresses.avail + 4 + 2 * (this.#availIdx % this.size), head);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.mem.writeU16(this.addresses.avail + 2, this.#availIdx);
  }

  /** Sets avail.idx to any value (for malformed-ring tests). */
  setAvailIdx(idx: number): void {
    this.#availIdx = idx & 0xffff;
    this.mem.writeU16(this.addresses.avail + 2, this.#availIdx);
  }

  /** Sets avail.flags. */
  setAvailFlags(flags: number): void {
    this.mem.writeU16(this.addresses.avail, flags);
  }

  /** Sets used_event (the driver's EVENT_IDX threshold). */
  setUsedEvent(idx: number): void {
    this.mem.writeU16(this.addresses.avail + 4 + 2 * this.size, idx);
  }

  /** Reads avail_event (the device's EVENT_IDX threshold). */
  availEvent(): number {
    return this.mem.readU16(this.addresses.used + 4 + 8 * this.size);
  }

  /** Reads used.flags. */
  usedFlags(): number {
    return this.mem.readU16(this.addresses.used);
  }

  /**
   * Builds a chain from consecutive free descriptors, publishes it and returns its head.
   * With `indirect`, the buffers go into an indirect table referenced by one descriptor.
   *
   * @example
   * ```ts
   * q.addChain([{ data: header }, { len: 512, write: true }]);
   * ```
   */
  addChain(buffers: MockBuffer[], o: { indirect?: boolean } = {}): number {
    const descs = buffers.map((b) => {
      const len = b.len ?? b.data?.length ?? 0;
      const addr = b.addr ?? this.alloc(Math.max(len, 1));
      if (b.data) this.mem.write(addr, b.data);
      return { addr, len, write: b.write ?? false };
    });
    const head = this.#nextDesc % this.size;
    if (o.indirect) {
      const table = this.alloc(DESC_SIZE * descs.length);
      descs.forEach((d, i) =>
        this.writeDescriptor(i, {
          addr: d.addr,
          len: d.len,
          flags: (d.write ? VIRTQ_DESC_F.WRITE : 0) |
            (i < descs.length - 1 ? VIRTQ_DESC_F.NEXT : 0),
          next: i + 1,
        }, table)
      );
      this.writeDescriptor(head, {
        addr: table,
        len: DESC_SIZE * descs.length,
        flags: VIRTQ_DESC_F.INDIRECT,
        next: 0,
      });
      this.#nextDesc++;
    } else {
      descs.forEach((d, i) => {
        const idx = (this.#nextDesc + i) % this.size;
        this.writeDescriptor(idx, {
          addr: d.addr,
          len: d.len,
          flags: (d.write ? VIRTQ_DESC_F.WRITE : 0) |
            (i < descs.length - 1 ? VIRTQ_DESC_F.NEXT : 0),
          next: (idx + 1) % this.size,
        });
      });
      this.#nextDesc += descs.length;
    }
    this.publish(head);
    return head;
  }

  /** used.idx as the device last published it. */
  usedIdx(): number {
    return this.mem.readU16(this.addresses.used + 2);
  }

  /**
   * The used-ring entries added since the last call.
   *
   * @example
   * ```ts
   * for (const { id, len } of q.used()) console.log(id, len);
   * ```
   */
  used(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.usedIdx();
    while (this.#usedSeen !== idx) {
      const at = this.addresses.used + 4 + 8 * (this.#usedSeen % this.size);
      out.push({ id: this.mem.readU32(at), len: this.mem.readU32(at + 4) });
      this.#usedSeen = (this.#usedSeen + 1) & 0xffff;
    }
    return out;
  }
}
