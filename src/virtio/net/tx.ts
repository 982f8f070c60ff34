/**
 * The transmit path of virtio-net (virtio 1.2 §5.1.6.2): each chain on transmitq1 is a header
 * and a frame; the header is checked against the negotiated features and copied (12 bytes) into
 * the device's own buffer, the frame goes to the tap with one writev straight from guest memory.
 *
 * Notifications (§2.7.10): while it works the device does not ask for kicks (with EVENT_IDX it
 * leaves avail_event behind, as vhost does; without, it sets VIRTQ_USED_F_NO_NOTIFY); when the
 * queue is empty it re-arms them and looks once more. Interrupts follow used_event / avail.flags.
 * A full tap (EAGAIN) puts the chain back and waits for EPOLLOUT.
 *
 * @module
 */

import { logger } from "../../log.ts";
import { memoryFence } from "../queue/fence.ts";
import { ChainBuffers, type SplitQueue } from "../queue/split_queue.ts";
import { WOULD_BLOCK } from "./backend.ts";
import { readChainHeader } from "./chain_header.ts";
import { checkTxHeader, NET_HDR, NET_HDR_SIZE, VIRTIO_NET_HDR_GSO } from "./header.ts";
import { addressOf, fixedBytes, IoVecs, pushChainBuffers } from "./iovecs.ts";
import type { NetPathEnv } from "./path_env.ts";

const log = logger("virtio", "net");

/**
 * Chains served per call before the device lets the rest of the VMM run: a guest that refills
 * the queue as fast as it is drained cannot keep the main thread for ever.
 */
export const TX_BUDGET = 1024;

/** The transmit side of one net device, for one activation. */
export class TxPath {
  readonly #env: NetPathEnv;
  readonly #q: SplitQueue;
  readonly #chain: ChainBuffers;
  readonly #iov: IoVecs;
  readonly #hdr = fixedBytes(NET_HDR_SIZE);
  readonly #hdrView = new DataView(this.#hdr.buffer);
  readonly #hdrAddr = addressOf(this.#hdr);
  #blocked = false;
  #running = false;
  #stopped = false;
  #continuation?: ReturnType<typeof setTimeout>;
  // Made once: a closure written inside #process would cost a context allocation per call.
  readonly #resume = () => {
    this.#continuation = undefined;
    this.kick();
  };

  /** @example `new TxPath(env, ctx.queues[1])` */
  constructor(env: NetPathEnv, q: SplitQueue) {
    this.#env = env;
    this.#q = q;
    // §2.7.5.3.1: no chain is longer than the queue.
    this.#chain = new ChainBuffers(q.size);
    this.#iov = new IoVecs(q.size + 1);
  }

  /** The driver kicked transmitq1: send what it queued. */
  kick(): void {
    if (!this.#blocked) this.#process();
  }

  /** The tap has room again after EAGAIN. */
  writable(): void {
    if (!this.#blocked || this.#stopped) return;
    this.#blocked = false;
    this.#env.wantWritable(false);
    this.#process();
  }

  /** Device reset: forget everything (the chains belong to the old driver). */
  stop(): void {
    this.#stopped = true;
    if (this.#continuation !== undefined) clearTimeout(this.#continuation);
  }

  #process(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    const q = this.#q;
    const env = this.#env;
    let sent = 0;
    try {
      for (;;) {
        if (!q.eventIdx) q.setNotification(false);
        let budget = TX_BUDGET - sent;
        while (budget > 0 && q.popInto(this.#chain)) {
          budget--;
          if (!this.#send()) {
            q.undoPop();
            this.#blocked = true;
            env.counters.txWaits++;
            env.wantWritable(true);
            return;
          }
          q.addUsed(this.#chain.head, 0); // nothing written into a transmit buffer
          sent++;
        }
        if (budget === 0) {
          // Not done: come back after the rest of the VMM had a turn.
          this.#continuation = setTimeout(this.#resume, 0);
          return;
        }
        q.setNotification(true);
        memoryFence();
        if (q.pending() === 0) return;
      }
    } catch (e) {
      env.fail(e);
    } finally {
      this.#running = false;
      if (sent > 0 && !this.#stopped) {
        memoryFence();
        if (q.needsInterrupt()) env.notifyUsed();
      }
    }
  }

  // Sends the popped chain; false when the tap is full (the chain goes back to the queue).
  #send(): boolean {
    const c = this.#chain;
    const env = this.#env;
    if (c.writableCount > 0) return this.#malformed("a transmit chain has device-writable buffers");
    if (c.readableBytes < NET_HDR_SIZE) {
      return this.#malformed(`a transmit chain of ${c.readableBytes} bytes has no full header`);
    }
    readChainHeader(env.mem, c, 0, this.#hdr, this.#hdrView);
    const frameLen = c.readableBytes - NET_HDR_SIZE;
    const why = checkTxHeader(this.#hdr, frameLen, env.featureBits);
    if (why !== null) return this.#malformed(why);
    const iov = this.#iov;
    iov.clear();
    iov.push(this.#hdrAddr, NET_HDR_SIZE);
    pushChainBuffers(iov, env.mem, c, 0, c.readableCount, NET_HDR_SIZE);
    const n = env.backend.writev(iov);
    if (n === WOULD_BLOCK) return false;
    if (n < 0) {
      env.counters.txDrops++;
      return true;
    }
    env.counters.txFrames++;
    env.counters.txBytes += frameLen;
    if (this.#hdr[NET_HDR.GSO_TYPE] !== VIRTIO_NET_HDR_GSO.NONE) env.counters.txGsoFrames++;
    return true;
  }

  #malformed(why: string): true {
    this.#env.counters.errors++;
    log.debug(`${this.#env.name}: transmit frame dropped: ${why}`);
    return true;
  }
}
