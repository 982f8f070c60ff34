/**
 * The receive path of virtio-net (virtio 1.2 §5.1.6.3, §5.1.6.4): frames read from the tap land
 * straight in the guest's receive buffers with one readv.
 *
 * The device pops receive chains ahead and holds them. For a read it gives the tap the device's
 * 12-byte header buffer, then the held chains' buffers (the first chain's after its 12 header
 * bytes): one chain without VIRTIO_NET_F_MRG_RXBUF; with it, enough chains for twice the average
 * frame (all of the largest frame under TSO traffic); then an overflow buffer of the device's own,
 * so no read is ever cut short. After the read it fixes the header
 * (num_buffers, flags), writes it into the first chain and returns only the chains the frame
 * filled, publishing used.idx once for all of them (§5.1.6.4.1: the driver must see them
 * together). Chains it did not fill stay held for the next frame.
 *
 * When the guest has no buffers left the device stops reading the tap (frames wait in the tap's
 * queue, none is dropped), re-arms notifications and resumes on the next receiveq1 kick. A frame
 * larger than the buffers a read offered spills into the overflow buffer; with mergeable buffers
 * its tail is copied into the next held chains, or into the next ones the guest posts (the only
 * copy, and a rare one: the device holds chains for the largest frame whenever the guest has
 * posted that many). While the device holds chains it does not ask for kicks.
 *
 * @module
 */

import { IOV_MAX } from "../../../ffi/libc.ts";
import { logger } from "../../log.ts";
import { memoryFence } from "../queue/fence.ts";
import { ChainBuffers, type SplitQueue } from "../queue/split_queue.ts";
import { WOULD_BLOCK } from "./backend.ts";
import { writeChainHeader } from "./chain_header.ts";
import {
  ETH_HLEN,
  fixRxHeader,
  MAX_FRAME,
  NET_HDR,
  NET_HDR_SIZE,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_GSO,
} from "./header.ts";
import { addressOf, fixedBytes, IoVecs, pushChainBuffers } from "./iovecs.ts";
import type { NetPathEnv } from "./path_env.ts";

const log = logger("virtio", "net");

/** Frames read per readiness event; the tap stays readable (level-triggered) for the rest. */
export const RX_BUDGET = 256;
/**
 * Used buffers after which the driver hears about them even in the middle of a batch (as
 * vhost-net does every 64), so it can recycle buffers while the device keeps reading.
 */
export const RX_SIGNAL_EVERY = 64;
/** Header plus the largest frame: what mergeable buffers are gathered for before a read. */
export const RX_TARGET = NET_HDR_SIZE + MAX_FRAME;
const OVERFLOW_BYTES = RX_TARGET;
/** The least a read offers the guest's buffers: a full-size untagged or VLAN frame. */
const RX_MIN_COVER = NET_HDR_SIZE + 1514 + 4;

/** The receive side of one net device, for one activation. */
export class RxPath {
  readonly #env: NetPathEnv;
  readonly #q: SplitQueue;
  readonly #mergeable: boolean;
  // Held chains: a ring of queue-size slots, filled by popInto (no copies).
  readonly #held: ChainBuffers[];
  #heldFirst = 0;
  #heldCount = 0;
  #heldBytes = 0;
  readonly #iov = new IoVecs(IOV_MAX);
  readonly #hdr = fixedBytes(NET_HDR_SIZE);
  readonly #hdrView = new DataView(this.#hdr.buffer);
  readonly #hdrAddr = addressOf(this.#hdr);
  readonly #overflow: Uint8Array;
  readonly #overflowAddr: number;
  /** A frame whose tail waits in the overflow buffer for more guest buffers. */
  #tail = { len: 0, offset: 0, frameLen: 0, chains: 0 };
  #stalled = false;
  #kicksOff = false;
  #busy = false;
  #again = false;
  #stopped = false;
  #used = 0;
  /** How many held chains the last read's iovecs covered. */
  #iovChains = 0;
  /** Running average of frame sizes (header included), weight 1/8, as Linux sizes its buffers. */
  #avgFrame = RX_MIN_COVER;

  /** @example `new RxPath(env, ctx.queues[0])` */
  constructor(env: NetPathEnv, q: SplitQueue) {
    this.#env = env;
    this.#q = q;
    this.#mergeable = (env.featureBits & (1 << Number(VIRTIO_NET_F.MRG_RXBUF))) !== 0;
    this.#held = Array.from({ length: q.size }, () => new ChainBuffers(q.size, 4));
    this.#overflow = fixedBytes(OVERFLOW_BYTES);
    this.#overflowAddr = addressOf(this.#overflow);
  }

  /** Frames may be waiting in the tap (its fd is readable), or the device just started. */
  readable(): void {
    if (this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    try {
      do {
        this.#again = false;
        this.#run();
      } while (this.#again && !this.#stopped);
    } catch (e) {
      this.#env.fail(e);
    } finally {
      this.#busy = false;
    }
  }

  /** The driver kicked receiveq1: it posted buffers. Resumes a stalled device. */
  kick(): void {
    if (!this.#stalled || this.#stopped) return;
    this.#stalled = false;
    this.#env.wantReadable(true);
    this.readable();
  }

  /** Device reset: forget the held chains and any frame in flight. */
  stop(): void {
    this.#stopped = true;
  }

  #run(): void {
    const env = this.#env;
    const c = env.counters;
    this.#used = 0;
    try {
      for (let frames = 0; frames < RX_BUDGET && !this.#stalled;) {
        if (this.#tail.len > 0) {
          if (!this.#placeTail()) break;
          frames++;
          continue;
        }
        this.#fill();
        if (this.#heldCount === 0) {
          this.#stall();
          continue; // #stall found new buffers, or the loop ends on #stalled
        }
        const space = this.#buildIov();
        const n = env.backend.readv(this.#iov);
        if (n < 0) {
          if (n !== WOULD_BLOCK) {
            c.errors++;
            log.debug(`${env.name}: tap read failed (errno ${-n})`);
          }
          break;
        }
        frames++;
        this.#avgFrame = (this.#avgFrame * 7 + n) >> 3;
        if (n < NET_HDR_SIZE + ETH_HLEN) {
          c.rxDrops++; // a runt: the held chains are simply reused
          continue;
        }
        if (n > space) {
          if (!this.#mergeable) {
            c.rxDrops++; // larger than the posted buffer (§5.1.6.3: the driver's to size)
            continue;
          }
          this.#tail = { len: n - space, offset: 0, frameLen: n, chains: this.#iovChains };
          continue;
        }
        this.#commit(n);
      }
    } finally {
      if (this.#used > 0 && !this.#stopped) this.#signal();
    }
  }

  #signal(): void {
    this.#used = 0;
    memoryFence();
    if (this.#q.needsInterrupt()) this.#env.notifyUsed();
  }

  // Pops chains until a frame of any size fits (one chain without mergeable buffers).
  #fill(): void {
    const q = this.#q;
    const cap = this.#held.length;
    while (
      this.#heldCount < cap &&
      (this.#mergeable ? this.#heldBytes < RX_TARGET : this.#heldCount === 0)
    ) {
      const slot = this.#held[(this.#heldFirst + this.#heldCount) % cap];
      if (!q.popInto(slot)) break;
      if (slot.readableCount > 0 || slot.writableBytes < NET_HDR_SIZE) {
        // §5.1.6.3.1: receive buffers are device-writable and at least a header long. Give it
        // back empty; the driver counts a length error and recycles it.
        this.#env.counters.errors++;
        q.addUsed(slot.head, 0);
        this.#used++;
        continue;
      }
      this.#heldCount++;
      this.#heldBytes += slot.writableBytes;
    }
    if (!q.eventIdx && !this.#kicksOff && this.#heldCount > 0) {
      q.setNotification(false); // holding buffers: refills need not kick
      this.#kicksOff = true;
    }
  }

  // How many guest bytes a read offers: twice the average frame (at least a full-size one, at
  // most the largest). Listing every held chain for each small frame would cost more iovecs
  // than the frame; a rare larger frame spills into the overflow buffer and its tail is copied
  // into the next held chains.
  #cover(): number {
    const c = 2 * this.#avgFrame;
    return c < RX_MIN_COVER ? RX_MIN_COVER : c > RX_TARGET ? RX_TARGET : c;
  }

  // The read's iovecs: header buffer, held chains, overflow. Returns the bytes the guest
  // buffers take, header included.
  #buildIov(): number {
    const iov = this.#iov;
    const mem = this.#env.mem;
    const cap = this.#held.length;
    iov.clear();
    iov.push(this.#hdrAddr, NET_HDR_SIZE);
    let space = 0;
    let chains = 0;
    for (let k = 0; k < this.#heldCount; k++) {
      const ch = this.#held[(this.#heldFirst + k) % cap];
      if (k > 0 && iov.count + ch.writableCount + 1 > iov.capacity) break;
      pushChainBuffers(
        iov,
        mem,
        ch,
        ch.readableCount,
        ch.writableCount,
        k === 0 ? NET_HDR_SIZE : 0,
      );
      space += ch.writableBytes;
      chains++;
      if (!this.#mergeable || space >= this.#cover()) break;
    }
    // Always room for the largest frame: a tap read into too small an iovec array cuts the
    // frame short, and recent kernels report only the cut length, so a read must never be cut.
    iov.push(this.#overflowAddr, this.#overflow.length);
    this.#iovChains = chains;
    return space;
  }

  // The frame of `n` bytes (header included) fills the first held chains: hand them over.
  #commit(n: number): void {
    const env = this.#env;
    const q = this.#q;
    const cap = this.#held.length;
    let buffers = 0;
    for (let left = n; left > 0; buffers++) {
      left -= this.#held[(this.#heldFirst + buffers) % cap].writableBytes;
    }
    if (!fixRxHeader(this.#hdr, buffers, env.featureBits)) {
      env.counters.rxDrops++; // an offload the driver did not accept (TUNSETOFFLOAD prevents it)
      return;
    }
    const first = this.#held[this.#heldFirst];
    writeChainHeader(env.mem, first, first.readableCount, this.#hdr, this.#hdrView);
    let left = n;
    for (let i = 0; i < buffers; i++) {
      const ch = this.#held[this.#heldFirst];
      const used = Math.min(left, ch.writableBytes);
      left -= used;
      q.addUsed(ch.head, used, false);
      this.#heldFirst = (this.#heldFirst + 1) % cap;
      this.#heldCount--;
      this.#heldBytes -= ch.writableBytes;
    }
    q.publishUsed();
    this.#used += buffers;
    env.counters.rxFrames++;
    env.counters.rxBytes += n - NET_HDR_SIZE;
    if (this.#hdr[NET_HDR.GSO_TYPE] !== VIRTIO_NET_HDR_GSO.NONE) env.counters.rxGsoFrames++;
    if (this.#used >= RX_SIGNAL_EVERY) this.#signal();
  }

  // Copies the tail of a spilled frame into further chains; false when it must wait for more.
  #placeTail(): boolean {
    const t = this.#tail;
    const cap = this.#held.length;
    const q = this.#q;
    let room = this.#heldBytes;
    for (let k = 0; k < t.chains; k++) {
      room -= this.#held[(this.#heldFirst + k) % cap].writableBytes;
    }
    while (room < t.len) {
      if (this.#heldCount === cap) {
        // Every queue entry is held and the frame still does not fit: it never will.
        this.#env.counters.rxDrops++;
        this.#tail = { len: 0, offset: 0, frameLen: 0, chains: 0 };
        return true;
      }
      const slot = this.#held[(this.#heldFirst + this.#heldCount) % cap];
      if (!q.popInto(slot)) {
        this.#stall();
        if (this.#stalled) return false;
        continue;
      }
      if (slot.readableCount > 0 || slot.writableBytes < NET_HDR_SIZE) {
        this.#env.counters.errors++;
        q.addUsed(slot.head, 0);
        this.#used++;
        continue;
      }
      this.#heldCount++;
      this.#heldBytes += slot.writableBytes;
      room += slot.writableBytes;
    }
    const mem = this.#env.mem;
    let src = t.offset;
    let left = t.len;
    for (let k = t.chains; left > 0; k++) {
      const ch = this.#held[(this.#heldFirst + k) % cap];
      for (let i = ch.readableCount; i < ch.count && left > 0; i++) {
        const n = Math.min(ch.len[i], left);
        mem.write(ch.addr[i], this.#overflow.subarray(src, src + n));
        src += n;
        left -= n;
      }
    }
    const frameLen = t.frameLen;
    this.#tail = { len: 0, offset: 0, frameLen: 0, chains: 0 };
    this.#commit(frameLen);
    return true;
  }

  // Out of buffers: re-arm kicks, look once more, else stop reading the tap until a kick.
  #stall(): void {
    const q = this.#q;
    q.setNotification(true);
    this.#kicksOff = false;
    memoryFence();
    if (q.pending() > 0) return;
    this.#stalled = true;
    this.#env.counters.rxStalls++;
    this.#env.wantReadable(false);
  }
}
