/**
 * virtio-rng (virtio 1.2 §5.4): fills every device-writable buffer the guest offers with bytes
 * from the host's CSPRNG (`crypto.getRandomValues`, which Deno backs with getrandom(2)). With it
 * the guest's entropy pool is ready at once instead of waiting on jitter.
 *
 * @module
 */

import { type ActivateContext, bit, VIRTIO_F, VIRTIO_ID, type VirtioDevice } from "../device.ts";
import type { SplitQueue } from "../queue/split_queue.ts";

/** Queue size offered. */
export const RNG_QUEUE_SIZE = 64;
/** getRandomValues fills at most this many bytes per call. */
const MAX_FILL = 65536;

/**
 * The entropy device.
 *
 * @example
 * ```ts
 * const rng = new RngDevice("rng0");
 * ```
 */
export class RngDevice implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.RNG;
  readonly name: string;
  readonly features = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_EVENT_IDX) |
    bit(VIRTIO_F.RING_INDIRECT_DESC);
  readonly queueMaxSizes = [RNG_QUEUE_SIZE];
  /** Bytes handed to the guest. */
  bytes = 0;
  #ctx?: ActivateContext;
  #queue?: SplitQueue;

  /** @example `new RngDevice("rng0")` */
  constructor(name: string) {
    this.name = name;
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0); // no configuration space
  }

  writeConfig(): void {}

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    this.#queue = ctx.queues[0];
    this.queueNotify(0);
  }

  queueNotify(index: number): void {
    const q = this.#queue;
    const ctx = this.#ctx;
    if (index !== 0 || q === undefined || ctx === undefined) return;
    try {
      let any = false;
      for (let c = q.pop(); c !== null; c = q.pop()) {
        let written = 0;
        for (const b of c.writable) {
          for (let at = 0; at < b.len; at += MAX_FILL) {
            crypto.getRandomValues(ctx.mem.slice(b.addr + at, Math.min(MAX_FILL, b.len - at)));
          }
          written += b.len;
        }
        this.bytes += written;
        q.addUsed(c.head, written);
        any = true;
      }
      if (any && q.needsInterrupt()) ctx.notifyUsed();
    } catch (e) {
      ctx.needsReset((e as Error).message);
    }
  }

  reset(): void {
    this.#ctx = undefined;
    this.#queue = undefined;
  }

  quiesce(): Promise<void> {
    return Promise.resolve();
  }
}
