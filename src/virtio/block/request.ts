/**
 * The virtio-blk request parser (virtio 1.2 §5.2.6): a descriptor chain in, a typed request
 * out. Pure: it reads the 16-byte header from guest memory and classifies the buffers, and does no
 * I/O. A chain it cannot make sense of yields a {@link BadRequest} carrying the status byte's
 * location when there is one, so the device can still complete it with an error.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import type { DescriptorChain, GuestBuffer } from "../queue/split_queue.ts";

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** Status byte values (§5.2.6). */
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** Sector size of the virtio-blk protocol, whatever the device's block size. */
export const SECTOR_SIZE = 512;
/** Bytes of the GET_ID answer. */
export const BLK_ID_BYTES = 20;
/** Size of a discard / write-zeroes segment. */
export const DISCARD_SEGMENT_SIZE = 16;

/** One discard or write-zeroes range. */
export interface BlkSegment {
  sector: bigint;
  sectors: number;
  /** VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP. */
  unmap: boolean;
}

/** A parsed request. */
export type BlkRequest =
  | { kind: "in"; sector: bigint; data: GuestBuffer[]; bytes: number; status: number }
  | { kind: "out"; sector: bigint; data: GuestBuffer[]; bytes: number; status: number }
  | { kind: "flush"; status: number }
  | { kind: "get-id"; data: GuestBuffer[]; status: number }
  | { kind: "discard" | "write-zeroes"; segments: BlkSegment[]; status: number }
  | { kind: "unsupported"; type: number; status: number };

/** A chain too broken to be a request; `status` is where to write the error, if anywhere. */
export interface BadRequest {
  kind: "bad";
  reason: string;
  status?: number;
}

/**
 * Parses one chain. `maxSegments` caps discard/write-zeroes ranges (the config's max_*_seg).
 *
 * @example
 * ```ts
 * const req = parseBlkRequest(mem, chain, 1);
 * if (req.kind === "in") ...
 * ```
 */
export function parseBlkRequest(
  mem: GuestMemory,
  chain: DescriptorChain,
  maxSegments: number,
): BlkRequest | BadRequest {
  // The status byte is the last byte of the last writable buffer (§5.2.6.1).
  const lastW = chain.writable.at(-1);
  if (lastW === undefined || lastW.len === 0) {
    return { kind: "bad", reason: "request has no writable status byte" };
  }
  const status = lastW.addr + lastW.len - 1;
  const writable = trimLast(chain.writable);
  const header = gather(mem, chain.readable, 16);
  if (header === undefined) {
    return { kind: "bad", reason: "request header shorter than 16 bytes", status };
  }
  const hv = new DataView(header.buffer);
  const type = hv.getUint32(0, true);
  const sector = hv.getBigUint64(8, true);
  const dataReadable = skip(chain.readable, 16);
  switch (type) {
    case VIRTIO_BLK_T.IN:
      if (dataReadable.length > 0) {
        return { kind: "bad", reason: "read request with device-readable data", status };
      }
      return { kind: "in", sector, data: writable, bytes: total(writable), status };
    case VIRTIO_BLK_T.OUT:
      if (writable.length > 0) {
        return { kind: "bad", reason: "write request with device-writable data", status };
      }
      return { kind: "out", sector, data: dataReadable, bytes: total(dataReadable), status };
    case VIRTIO_BLK_T.FLUSH:
      return { kind: "flush", status };
    case VIRTIO_BLK_T.GET_ID:
      return { kind: "get-id", data: writable, status };
    case VIRTIO_BLK_T.DISCARD:
    case VIRTIO_BLK_T.WRITE_ZEROES: {
      const bytes = total(dataReadable);
      if (bytes === 0 || bytes % DISCARD_SEGMENT_SIZE !== 0) {
        return { kind: "bad", reason: "discard/write-zeroes data is not whole segments", status };
      }
      const n = bytes / DISCARD_SEGMENT_SIZE;
      if (n > maxSegments) {
        return { kind: "bad", reason: `${n} segments exceed the limit ${maxSegments}`, status };
      }
      const raw = gather(mem, dataReadable, bytes)!;
      const v = new DataView(raw.buffer);
      const segments: BlkSegment[] = [];
      for (let i = 0; i < n; i++) {
        const o = i * DISCARD_SEGMENT_SIZE;
        segments.push({
          sector: v.getBigUint64(o, true),
          sectors: v.getUint32(o + 8, true),
          unmap: (v.getUint32(o + 12, true) & 1) !== 0,
        });
      }
      return { kind: type === VIRTIO_BLK_T.DISCARD ? "discard" : "write-zeroes", segments, status };
    }
    default:
      return { kind: "unsupported", type, status };
  }
}

function total(bufs: readonly GuestBuffer[]): number {
  let n = 0;
  for (const b of bufs) n += b.len;
  return n;
}

/** The buffers without their last byte (the status byte). */
function trimLast(bufs: readonly GuestBuffer[]): GuestBuffer[] {
  const out = bufs.slice(0, -1);
  const last = bufs[bufs.length - 1];
  if (last.len > 1) out.push({ addr: last.addr, len: last.len - 1 });
  return out;
}

/** The buffers after their first `n` bytes. */
function skip(bufs: readonly GuestBuffer[], n: number): GuestBuffer[] {
  const out: GuestBuffer[] = [];
  for (const b of bufs) {
    if (n >= b.len) {
      n -= b.len;
      continue;
    }
    out.push({ addr: b.addr + n, len: b.len - n });
    n = 0;
  }
  return out;
}

/** The first `n` bytes across the buffers, or undefined if they hold fewer. */
function gather(mem: GuestMemory, bufs: readonly GuestBuffer[], n: number): Uint8Array | undefined {
  const out = new Uint8Array(n);
  let at = 0;
  for (const b of bufs) {
    if (at === n) break;
    const take = Math.min(b.len, n - at);
    out.set(mem.slice(b.addr, take), at);
    at += take;
  }
  return at === n ? out : undefined;
}
