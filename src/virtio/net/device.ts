/**
 * virtio-net (virtio 1.2 §5.1): one receive and one transmit queue over a {@link NetBackend}
 * (a tap), with the MAC and link status in configuration space, mergeable receive buffers, and
 * checksum and TCP segmentation offload in both directions, mapped onto the tap's vnet header
 * and TUNSETOFFLOAD.
 *
 * Queue 0 is receiveq1 ({@link RxPath}), queue 1 transmitq1 ({@link TxPath}); no control queue
 * and no multiqueue, so `max_virtqueue_pairs` reads 1 and is not offered.
 *
 * A driver error the device cannot work around (a malformed ring or chain) puts it in
 * DEVICE_NEEDS_RESET; a bad frame is dropped and counted; the VMM never throws for the guest.
 *
 * @module
 */

import { logger } from "../../log.ts";
import { type ActivateContext, bit, VIRTIO_F, VIRTIO_ID, type VirtioDevice } from "../device.ts";
import type { NetBackend } from "./backend.ts";
import { netFeatureBits, tapOffloadsFor, VIRTIO_NET_F } from "./header.ts";
import { defaultMac, formatMac, type MacAddress, parseMac } from "./mac.ts";
import { type NetCounters, type NetPathEnv, newNetCounters } from "./path_env.ts";
import { RxPath } from "./rx.ts";
import { TxPath } from "./tx.ts";

export { type NetCounters } from "./path_env.ts";

const log = logger("virtio", "net");

/** Queue size offered for both queues. */
export const NET_QUEUE_SIZE = 256;

/** Byte offsets of `struct virtio_net_config` (§5.1.4). */
export const NET_CONFIG = { MAC: 0, STATUS: 6, MAX_VIRTQUEUE_PAIRS: 8, SIZE: 10 } as const;

/** `status` bits (§5.1.4). */
export const VIRTIO_NET_S = { LINK_UP: 1, ANNOUNCE: 2 } as const;

/** The features denovmm's net device offers. */
export const NET_FEATURES: bigint = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_EVENT_IDX) |
  bit(VIRTIO_F.RING_INDIRECT_DESC) | bit(VIRTIO_NET_F.MAC) | bit(VIRTIO_NET_F.STATUS) |
  bit(VIRTIO_NET_F.MRG_RXBUF) | bit(VIRTIO_NET_F.CSUM) | bit(VIRTIO_NET_F.GUEST_CSUM) |
  bit(VIRTIO_NET_F.HOST_TSO4) | bit(VIRTIO_NET_F.HOST_TSO6) | bit(VIRTIO_NET_F.GUEST_TSO4) |
  bit(VIRTIO_NET_F.GUEST_TSO6);

/** Options of {@link NetDevice}. */
export interface NetDeviceOptions {
  /** MAC address (`02:00:00:00:00:01` or six bytes); default: {@link defaultMac} of the tap. */
  mac?: string | MacAddress;
}

/**
 * A virtio network device.
 *
 * @example
 * ```ts
 * const tap = TapBackend.open("tap0", { loop });
 * const net = new NetDevice("net0", tap, { mac: "02:00:00:00:00:01" });
 * ```
 */
export class NetDevice implements VirtioDevice {
  /** Device ID 1 (§5.1.1). */
  readonly deviceId: number = VIRTIO_ID.NET;
  /** Short name for logs and metrics ("net0"). */
  readonly name: string;
  /** {@link NET_FEATURES}. */
  readonly features: bigint = NET_FEATURES;
  /** receiveq1 and transmitq1. */
  readonly queueMaxSizes: readonly number[] = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  /** Frames, bytes, drops, stalls and errors, for metrics. */
  readonly counters: NetCounters = newNetCounters();
  readonly #backend: NetBackend;
  readonly #mac: MacAddress;
  readonly #config = new Uint8Array(NET_CONFIG.SIZE);
  #ctx?: ActivateContext;
  #rx?: RxPath;
  #tx?: TxPath;
  #readable = false;
  #writable = false;

  /**
   * A device on `backend` (it registers its readiness callbacks there at once).
   *
   * @example `new NetDevice("net0", backend)`
   */
  constructor(name: string, backend: NetBackend, o: NetDeviceOptions = {}) {
    this.name = name;
    this.#backend = backend;
    this.#mac = typeof o.mac === "string"
      ? parseMac(o.mac)
      : o.mac !== undefined
      ? new Uint8Array(o.mac)
      : defaultMac(backend.name);
    if (this.#mac.length !== 6) throw new Error("A MAC address has 6 bytes");
    this.#config.set(this.#mac, NET_CONFIG.MAC);
    this.#setStatus(VIRTIO_NET_S.LINK_UP);
    new DataView(this.#config.buffer).setUint16(NET_CONFIG.MAX_VIRTQUEUE_PAIRS, 1, true);
    backend.attach({
      readable: () => this.#rx?.readable(),
      writable: () => this.#tx?.writable(),
      failed: (reason) => this.#linkFailed(reason),
    });
  }

  /** The backend (for closing it with the VM). */
  get backend(): NetBackend {
    return this.#backend;
  }

  /** The MAC address, `02:00:00:00:00:01` form. */
  get mac(): string {
    return formatMac(this.#mac);
  }

  /**
   * The counters in one line, for logs.
   *
   * @example
   * ```ts
   * log.info(net.summary()); // "net0 on tap0: received 465 frames (12 GSO), 546 KiB; ..."
   * ```
   */
  summary(): string {
    const c = this.counters;
    const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
    return `${this.name} on ${this.#backend.name}: received ${c.rxFrames} frames (${c.rxGsoFrames} GSO), ${
      kib(c.rxBytes)
    }, ${c.rxDrops} dropped, ${c.rxStalls} waits for buffers; sent ${c.txFrames} frames (${c.txGsoFrames} TSO), ${
      kib(c.txBytes)
    }, ${c.txDrops} refused by the tap, ${c.txWaits} waits for room; ${c.errors} errors`;
  }

  /** Whether the link is up (false once the tap is gone). */
  get linkUp(): boolean {
    return (this.#config[NET_CONFIG.STATUS] & VIRTIO_NET_S.LINK_UP) !== 0;
  }

  /** Reads `struct virtio_net_config` (§5.1.4); bytes past it read as 0. */
  readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.#config[offset + i] ?? 0;
  }

  /** Ignored: the configuration is read-only. */
  writeConfig(): void {
    // §5.1.4: every field is read-only for a non-legacy driver.
  }

  /** DRIVER_OK: sets the tap's offloads to what the driver accepted and starts both paths. */
  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    const env: NetPathEnv = {
      name: this.name,
      mem: ctx.mem,
      backend: this.#backend,
      featureBits: netFeatureBits(ctx.features),
      counters: this.counters,
      notifyUsed: ctx.notifyUsed,
      wantReadable: (on) => this.#want(on, this.#writable),
      wantWritable: (on) => this.#want(this.#readable, on),
      fail: (e) => {
        this.counters.errors++;
        ctx.needsReset((e as Error).message);
      },
    };
    try {
      // What the driver accepted is what the tap may now hand us (and nothing before this).
      this.#backend.setOffload(tapOffloadsFor(ctx.features));
    } catch (e) {
      log.warn(`${this.name}: ${(e as Error).message}; receive offloads stay off`);
    }
    const [rxq, txq] = ctx.queues;
    this.#rx = rxq === undefined ? undefined : new RxPath(env, rxq);
    this.#tx = txq === undefined ? undefined : new TxPath(env, txq);
    if (this.#rx !== undefined) {
      this.#want(true, false);
      this.#rx.readable();
    }
    this.#tx?.kick();
  }

  /** A kick: receive buffers posted (0) or frames to send (1). */
  queueNotify(index: number): void {
    if (index === 0) this.#rx?.kick();
    else if (index === 1) this.#tx?.kick();
  }

  /** Device reset: drops the held buffers, stops reading the tap, clears the tap's offloads. */
  reset(): void {
    this.#rx?.stop();
    this.#tx?.stop();
    this.#rx = this.#tx = undefined;
    this.#ctx = undefined;
    this.#want(false, false);
    try {
      this.#backend.setOffload(0);
    } catch {
      // A tap that is gone takes no offloads either.
    }
  }

  /** Resolves at once: no tap I/O is ever in flight. */
  quiesce(): Promise<void> {
    // Every tap read and write is synchronous: nothing is ever in flight.
    return Promise.resolve();
  }

  #want(readable: boolean, writable: boolean): void {
    this.#readable = readable;
    this.#writable = writable;
    this.#backend.setInterest(readable, writable);
  }

  #setStatus(status: number): void {
    new DataView(this.#config.buffer).setUint16(NET_CONFIG.STATUS, status, true);
  }

  #linkFailed(reason: string): void {
    log.warn(`${this.name}: ${reason}; the guest sees the link down`);
    this.counters.errors++;
    this.#setStatus(0);
    this.#ctx?.notifyConfig(); // §5.1.4: status changes come with a configuration interrupt
  }
}
