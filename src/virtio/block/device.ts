/**
 * virtio-blk (virtio 1.2 §5.2): one request queue served from a {@link BlockBackend}, several
 * requests in flight at once, completions returned in the order they finish.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import { logger } from "../../log.ts";
import { type ActivateContext, bit, VIRTIO_F, VIRTIO_ID, type VirtioDevice } from "../device.ts";
import type { DescriptorChain, SplitQueue } from "../queue/split_queue.ts";
import type { BlockBackend } from "./backend.ts";
import {
  BLK_ID_BYTES,
  type BlkRequest,
  parseBlkRequest,
  SECTOR_SIZE,
  VIRTIO_BLK_S,
} from "./request.ts";

const log = logger("virtio", "blk");

/** Feature bits (§5.2.3). */
export const VIRTIO_BLK_F = {
  SIZE_MAX: 1n,
  SEG_MAX: 2n,
  RO: 5n,
  BLK_SIZE: 6n,
  FLUSH: 9n,
  DISCARD: 13n,
  WRITE_ZEROES: 14n,
} as const;

/** Queue size offered to the driver. */
export const BLK_QUEUE_SIZE = 256;
/** Largest single segment (config size_max). */
export const BLK_SIZE_MAX = 1 << 20;
/** Most data segments per request (config seg_max): the queue minus header and status. */
export const BLK_SEG_MAX = BLK_QUEUE_SIZE - 2;
/** Ranges per DISCARD / WRITE_ZEROES request. */
export const BLK_MAX_DISCARD_SEG = 1;
/** Largest DISCARD / WRITE_ZEROES range, in sectors. */
export const BLK_MAX_DISCARD_SECTORS = (1 << 30) / SECTOR_SIZE;

/** Byte offsets of `struct virtio_blk_config` (§5.2.4). */
export const BLK_CONFIG = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56,
  SIZE: 60,
} as const;

/** Counters for metrics. */
export interface BlkCounters {
  reads: number;
  writes: number;
  flushes: number;
  readBytes: number;
  writeBytes: number;
  errors: number;
}

/**
 * A virtio block device.
 *
 * @example
 * ```ts
 * const blk = new BlockDevice("blk0", FileBackend.open("disk.img", { readOnly: false }));
 * ```
 */
export class BlockDevice implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.BLOCK;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes = [BLK_QUEUE_SIZE];
  readonly counters: BlkCounters = {
    reads: 0,
    writes: 0,
    flushes: 0,
    readBytes: 0,
    writeBytes: 0,
    errors: 0,
  };
  #backend: BlockBackend;
  readonly #config = new Uint8Array(BLK_CONFIG.SIZE);
  #ctx?: ActivateContext;
  #queue?: SplitQueue;
  #generation = 0;
  #inFlight = new Set<Promise<void>>();
  #signalScheduled = false;

  /** @example `new BlockDevice("blk0", backend)` */
  constructor(name: string, backend: BlockBackend) {
    this.name = name;
    this.#backend = backend;
    let f = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_EVENT_IDX) |
      bit(VIRTIO_F.RING_INDIRECT_DESC) |
      bit(VIRTIO_BLK_F.SIZE_MAX) | bit(VIRTIO_BLK_F.SEG_MAX) | bit(VIRTIO_BLK_F.BLK_SIZE) |
      bit(VIRTIO_BLK_F.FLUSH);
    f |= backend.readOnly
      ? bit(VIRTIO_BLK_F.RO)
      : bit(VIRTIO_BLK_F.DISCARD) | bit(VIRTIO_BLK_F.WRITE_ZEROES);
    this.features = f;
    const v = new DataView(this.#config.buffer);
    this.#setCapacity(backend.size);
    v.setUint32(BLK_CONFIG.SIZE_MAX, BLK_SIZE_MAX, true);
    v.setUint32(BLK_CONFIG.SEG_MAX, BLK_SEG_MAX, true);
    v.setUint32(BLK_CONFIG.BLK_SIZE, SECTOR_SIZE, true);
    v.setUint32(BLK_CONFIG.MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS, true);
    v.setUint32(BLK_CONFIG.MAX_DISCARD_SEG, BLK_MAX_DISCARD_SEG, true);
    v.setUint32(BLK_CONFIG.DISCARD_SECTOR_ALIGNMENT, 4096 / SECTOR_SIZE, true);
    v.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SECTORS, BLK_MAX_DISCARD_SECTORS, true);
    v.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SEG, BLK_MAX_DISCARD_SEG, true);
    this.#config[BLK_CONFIG.WRITE_ZEROES_MAY_UNMAP] = 1;
  }

  /** The backend (for closing it with the VM). */
  get backend(): BlockBackend {
    return this.#backend;
  }

  /**
   * Swaps the backing image while the guest runs (Firecracker's `PATCH /drives/{id}` after boot):
   * lets the requests in flight on the old image finish, serves every later one from `next`, sets
   * the new capacity and raises a configuration change interrupt so the driver reads it again
   * (virtio 1.2 §2.5.1, §5.2.4). Resolves with the old backend, which the caller closes.
   *
   * @example `(await blk.replaceBackend(FileBackend.open("b.img", { readOnly: false }))).close();`
   */
  async replaceBackend(next: BlockBackend): Promise<BlockBackend> {
    if (next.readOnly !== this.#backend.readOnly) {
      // VIRTIO_BLK_F_RO was negotiated with the driver; it cannot change under it.
      throw new Error(
        `${this.name}: the new image must be ${
          this.#backend.readOnly ? "read-only" : "writable"
        } like the one the guest has`,
      );
    }
    await this.quiesce();
    // No await from here on: no request can start between the last one finishing and the swap.
    const old = this.#backend;
    this.#backend = next;
    this.#setCapacity(next.size);
    this.#ctx?.notifyConfig();
    return old;
  }

  #setCapacity(bytes: number): void {
    new DataView(this.#config.buffer).setBigUint64(
      BLK_CONFIG.CAPACITY,
      BigInt(Math.floor(bytes / SECTOR_SIZE)),
      true,
    );
  }

  readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.#config[offset + i] ?? 0;
  }

  writeConfig(): void {
    // Every field is read-only (no CONFIG_WCE offered).
  }

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    this.#queue = ctx.queues[0];
    this.queueNotify(0);
  }

  reset(): void {
    this.#generation++;
    this.#ctx = undefined;
    this.#queue = undefined;
  }

  async quiesce(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  queueNotify(index: number): void {
    const q = this.#queue;
    const ctx = this.#ctx;
    if (index !== 0 || q === undefined || ctx === undefined) return;
    try {
      for (let chain = q.pop(); chain !== null; chain = q.pop()) this.#start(ctx.mem, chain);
    } catch (e) {
      this.counters.errors++;
      ctx.needsReset((e as Error).message);
    }
  }

  #start(mem: GuestMemory, chain: DescriptorChain): void {
    const req = parseBlkRequest(mem, chain, BLK_MAX_DISCARD_SEG);
    if (req.kind === "bad") {
      log.debug(`${this.name}: ${req.reason}`);
      this.counters.errors++;
      if (req.status !== undefined) mem.writeU8(req.status, VIRTIO_BLK_S.IOERR);
      this.#complete(chain.head, req.status !== undefined ? 1 : 0, this.#generation);
      return;
    }
    const gen = this.#generation;
    const op = this.#execute(mem, req).then(
      (written) => {
        mem.writeU8(req.status, VIRTIO_BLK_S.OK);
        return written + 1;
      },
      (e: unknown) => {
        this.counters.errors++;
        const code = e instanceof Unsupported ? VIRTIO_BLK_S.UNSUPP : VIRTIO_BLK_S.IOERR;
        if (code === VIRTIO_BLK_S.IOERR) log.debug(`${this.name}: ${(e as Error).message}`);
        mem.writeU8(req.status, code);
        return 1;
      },
    ).then((len) => this.#complete(chain.head, len, gen));
    this.#inFlight.add(op);
    op.finally(() => this.#inFlight.delete(op));
  }

  // Resolves with the number of bytes written into guest buffers (before the status byte).
  async #execute(mem: GuestMemory, req: Exclude<BlkRequest, { kind: "bad" }>): Promise<number> {
    const b = this.#backend;
    switch (req.kind) {
      case "in":
      case "out": {
        const offset = this.#range(req.sector, req.bytes);
        let at = offset;
        for (const buf of req.data) {
          const view = mem.slice(buf.addr, buf.len);
          if (req.kind === "in") await b.read(at, view);
          else {
            if (b.readOnly) throw new Error("write to a read-only disk");
            await b.write(at, view);
          }
          at += buf.len;
        }
        if (req.kind === "in") {
          this.counters.reads++;
          this.counters.readBytes += req.bytes;
          return req.bytes;
        }
        this.counters.writes++;
        this.counters.writeBytes += req.bytes;
        return 0;
      }
      case "flush":
        this.counters.flushes++;
        if (!b.readOnly) await b.flush();
        return 0;
      case "get-id": {
        const id = new TextEncoder().encode(b.id).subarray(0, BLK_ID_BYTES);
        const out = new Uint8Array(BLK_ID_BYTES);
        out.set(id);
        let at = 0;
        for (const buf of req.data) {
          const n = Math.min(buf.len, BLK_ID_BYTES - at);
          if (n <= 0) break;
          mem.write(buf.addr, out.subarray(at, at + n));
          at += n;
        }
        return at;
      }
      case "discard":
      case "write-zeroes": {
        if (b.readOnly) throw new Error(`${req.kind} on a read-only disk`);
        for (const s of req.segments) {
          if (s.sectors > BLK_MAX_DISCARD_SECTORS) throw new Error("range larger than advertised");
          const offset = this.#range(s.sector, s.sectors * SECTOR_SIZE);
          if (req.kind === "discard") await b.discard(offset, s.sectors * SECTOR_SIZE);
          else await b.writeZeroes(offset, s.sectors * SECTOR_SIZE, s.unmap);
        }
        return 0;
      }
      case "unsupported":
        throw new Unsupported(`request type ${req.type}`);
    }
  }

  #range(sector: bigint, bytes: number): number {
    const offset = sector * BigInt(SECTOR_SIZE);
    if (offset + BigInt(bytes) > BigInt(this.#backend.size)) {
      throw new Error(`request at sector ${sector} (+${bytes} bytes) is past the end of the disk`);
    }
    return Number(offset);
  }

  #complete(head: number, len: number, gen: number): void {
    // A completion from before a reset must not touch the new queue.
    if (gen !== this.#generation || this.#queue === undefined) return;
    this.#queue.addUsed(head, len);
    if (this.#signalScheduled) return;
    this.#signalScheduled = true;
    // One interrupt for every completion of this tick.
    queueMicrotask(() => {
      this.#signalScheduled = false;
      if (this.#queue?.needsInterrupt()) this.#ctx?.notifyUsed();
    });
  }
}

class Unsupported extends Error {}
