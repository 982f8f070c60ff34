/**
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): one 4 KiB register window per
 * device. It owns the feature negotiation, the device status state machine (§2.1, §3.1.1), the
 * queue registers and the interrupt status; the device behind it only sees {@link VirtioDevice}.
 *
 * @module
 */

import type { BusDevice } from "../devices/bus.ts";
import type { GuestMemory } from "../memory/guest_memory.ts";
import { logger } from "../log.ts";
import { bit, VIRTIO_F, type VirtioDevice } from "./device.ts";
import { SplitQueue, VirtqueueError } from "./queue/split_queue.ts";

const log = logger("virtio");

/** Register offsets (§4.2.2, table "MMIO Device Register Layout"). */
export const REG = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** "virt" in little-endian. */
export const MAGIC = 0x7472_6976;
/** The non-legacy register layout. */
export const MMIO_VERSION = 2;
/** Vendor ID reported to the driver ("DNVM"). */
export const VENDOR_ID = 0x4d56_4e44;

/** Device status bits (§2.1). */
export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** InterruptStatus bits (§4.2.2). */
export const INT = { VRING: 1, CONFIG: 2 } as const;

/** How the transport raises its interrupt (an irqfd write, or an irqchip pulse in tests). */
export interface InterruptLine {
  trigger(): void;
}

interface QueueRegs {
  num: number;
  ready: boolean;
  desc: number;
  driver: number;
  device: number;
}

const newQueue = (): QueueRegs => ({ num: 0, ready: false, desc: 0, driver: 0, device: 0 });
const setLow = (v: number, low: number) => Math.floor(v / 2 ** 32) * 2 ** 32 + (low >>> 0);
const setHigh = (v: number, high: number) => (high >>> 0) * 2 ** 32 + (v % 2 ** 32);

/**
 * One virtio-mmio register window.
 *
 * @example
 * ```ts
 * const t = new MmioTransport(device, mem, irq);
 * mmioBus.insert(0xd000_0000, 0x1000, t, "virtio-blk0");
 * ```
 */
export class MmioTransport implements BusDevice {
  readonly #dev: VirtioDevice;
  readonly #mem: GuestMemory;
  readonly #irq: InterruptLine;
  #status = 0;
  #deviceFeaturesSel = 0;
  #driverFeaturesSel = 0;
  #driverFeatures = 0n;
  #queueSel = 0;
  #queues: QueueRegs[];
  #interruptStatus = 0;
  #configGeneration = 0;
  #active = false;

  /** @example `new MmioTransport(device, mem, { trigger: () => irqfd.write() })` */
  constructor(device: VirtioDevice, mem: GuestMemory, irq: InterruptLine) {
    if ((device.features & bit(VIRTIO_F.VERSION_1)) === 0n) {
      throw new Error(`virtio device ${device.name} must offer VIRTIO_F_VERSION_1`);
    }
    this.#dev = device;
    this.#mem = mem;
    this.#irq = irq;
    this.#queues = device.queueMaxSizes.map(newQueue);
  }

  /** The device behind this window. */
  get device(): VirtioDevice {
    return this.#dev;
  }

  /** Current device status byte. */
  get status(): number {
    return this.#status;
  }

  /** True once the driver set DRIVER_OK and the device runs. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * The driver notified queue `index` (a QueueNotify write, or its ioeventfd fired).
   *
   * @example
   * ```ts
   * loop.add(efd.fd, () => { efd.drain(); transport.notifyQueue(0); });
   * ```
   */
  notifyQueue(index: number): void {
    if (this.#active && index < this.#queues.length) this.#dev.queueNotify(index);
  }

  /** Bus read (offset within the 4 KiB window). */
  read(offset: number, data: Uint8Array): void {
    if (offset >= REG.CONFIG) {
      this.#dev.readConfig(offset - REG.CONFIG, data);
      return;
    }
    data.fill(0);
    if (data.length !== 4) return; // §4.2.2.2: registers are read 32 bits at a time
    const v = this.#readReg(offset);
    new DataView(data.buffer, data.byteOffset, 4).setUint32(0, v >>> 0, true);
  }

  #readReg(offset: number): number {
    const q = this.#queues[this.#queueSel];
    switch (offset) {
      case REG.MAGIC_VALUE:
        return MAGIC;
      case REG.VERSION:
        return MMIO_VERSION;
      case REG.DEVICE_ID:
        return this.#dev.deviceId;
      case REG.VENDOR_ID:
        return VENDOR_ID;
      case REG.DEVICE_FEATURES:
        return this.#deviceFeaturesSel > 1
          ? 0
          : Number((this.#dev.features >> BigInt(32 * this.#deviceFeaturesSel)) & 0xffff_ffffn);
      case REG.QUEUE_NUM_MAX:
        return q === undefined ? 0 : this.#dev.queueMaxSizes[this.#queueSel];
      case REG.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case REG.INTERRUPT_STATUS:
        return this.#interruptStatus;
      case REG.STATUS:
        return this.#status;
      case REG.SHM_LEN_LOW:
      case REG.SHM_LEN_HIGH:
      case REG.SHM_BASE_LOW:
      case REG.SHM_BASE_HIGH:
        return 0xffff_ffff; // no shared memory regions (§4.2.2: length -1 means "none")
      case REG.QUEUE_RESET:
        return 0;
      case REG.CONFIG_GENERATION:
        return this.#configGeneration;
      default:
        return 0; // write-only or reserved
    }
  }

  /** Bus write (offset within the 4 KiB window). */
  write(offset: number, data: Uint8Array): void {
    if (offset >= REG.CONFIG) {
      this.#dev.writeConfig(offset - REG.CONFIG, data);
      return;
    }
    if (data.length !== 4) return;
    this.#writeReg(offset, new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true));
  }

  #writeReg(offset: number, v: number): void {
    const q = this.#queues[this.#queueSel];
    switch (offset) {
      case REG.DEVICE_FEATURES_SEL:
        this.#deviceFeaturesSel = v;
        return;
      case REG.DRIVER_FEATURES_SEL:
        this.#driverFeaturesSel = v;
        return;
      case REG.DRIVER_FEATURES:
        // Only while negotiating (§3.1.1 step 4): DRIVER set, FEATURES_OK not yet.
        if ((this.#status & (STATUS.DRIVER | STATUS.FEATURES_OK)) !== STATUS.DRIVER) return;
        if (this.#driverFeaturesSel > 1) return;
        {
          const shift = BigInt(32 * this.#driverFeaturesSel);
          this.#driverFeatures = (this.#driverFeatures & ~(0xffff_ffffn << shift)) |
            (BigInt(v) << shift);
        }
        return;
      case REG.QUEUE_SEL:
        this.#queueSel = v;
        return;
      case REG.QUEUE_NUM:
      case REG.QUEUE_DESC_LOW:
      case REG.QUEUE_DESC_HIGH:
      case REG.QUEUE_DRIVER_LOW:
      case REG.QUEUE_DRIVER_HIGH:
      case REG.QUEUE_DEVICE_LOW:
      case REG.QUEUE_DEVICE_HIGH:
        if (q === undefined || q.ready || this.#active) return; // §4.2.2.3: only while not ready
        this.#writeQueueReg(q, offset, v);
        return;
      case REG.QUEUE_READY:
        if (q === undefined) return;
        if (v === 0) q.ready = false;
        else if (!this.#active) q.ready = this.#checkQueue(this.#queueSel, q);
        return;
      case REG.QUEUE_NOTIFY:
        this.notifyQueue(v);
        return;
      case REG.INTERRUPT_ACK:
        this.#interruptStatus &= ~v;
        return;
      case REG.STATUS:
        this.#setStatus(v & 0xff);
        return;
      case REG.QUEUE_RESET:
      case REG.SHM_SEL:
      default:
        return;
    }
  }

  #writeQueueReg(q: QueueRegs, offset: number, v: number): void {
    switch (offset) {
      case REG.QUEUE_NUM:
        q.num = v;
        return;
      case REG.QUEUE_DESC_LOW:
        q.desc = setLow(q.desc, v);
        return;
      case REG.QUEUE_DESC_HIGH:
        q.desc = setHigh(q.desc, v);
        return;
      case REG.QUEUE_DRIVER_LOW:
        q.driver = setLow(q.driver, v);
        return;
      case REG.QUEUE_DRIVER_HIGH:
        q.driver = setHigh(q.driver, v);
        return;
      case REG.QUEUE_DEVICE_LOW:
        q.device = setLow(q.device, v);
        return;
      case REG.QUEUE_DEVICE_HIGH:
        q.device = setHigh(q.device, v);
        return;
    }
  }

  #checkQueue(index: number, q: QueueRegs): boolean {
    const max = this.#dev.queueMaxSizes[index];
    if (q.num === 0 || q.num > max) {
      this.#needsReset(`queue ${index}: size ${q.num} is not between 1 and ${max}`);
      return false;
    }
    try {
      this.#makeQueue(q);
      return true;
    } catch (e) {
      this.#needsReset(`queue ${index}: ${(e as Error).message}`);
      return false;
    }
  }

  #makeQueue(q: QueueRegs): SplitQueue {
    return new SplitQueue(this.#mem, q.num, { desc: q.desc, avail: q.driver, used: q.device }, {
      eventIdx: (this.#driverFeatures & bit(VIRTIO_F.RING_EVENT_IDX)) !== 0n,
    });
  }

  // §2.1 / §3.1.1: the driver sets bits in order and never clears one except by writing 0.
  #setStatus(v: number): void {
    if (v === 0) {
      this.#reset();
      return;
    }
    const old = this.#status;
    if ((v & old) !== old) {
      log.debug(
        `${this.#dev.name}: driver tried to clear status bits (0x${old.toString(16)} -> 0x${
          v.toString(16)
        }); ignored`,
      );
      return;
    }
    const added = v & ~old;
    if (added & STATUS.FAILED) {
      this.#status = v;
      return;
    }
    const order = [STATUS.ACKNOWLEDGE, STATUS.DRIVER, STATUS.FEATURES_OK, STATUS.DRIVER_OK];
    for (const b of order) {
      if ((added & b) === 0) continue;
      const needed = order.slice(0, order.indexOf(b));
      if (needed.some((n) => (v & n) === 0)) {
        log.debug(`${this.#dev.name}: status 0x${v.toString(16)} skips a step; ignored`);
        return;
      }
    }
    if (added & STATUS.FEATURES_OK) {
      const offered = this.#dev.features;
      const f = this.#driverFeatures;
      if ((f & ~offered) !== 0n || (f & bit(VIRTIO_F.VERSION_1)) === 0n) {
        // Leave FEATURES_OK clear: the driver reads it back and gives up (§3.1.1 step 6).
        log.debug(`${this.#dev.name}: driver features 0x${f.toString(16)} not acceptable`);
        this.#status = v & ~STATUS.FEATURES_OK & ~STATUS.DRIVER_OK;
        return;
      }
    }
    this.#status = v;
    if (added & STATUS.DRIVER_OK) this.#activate();
  }

  #activate(): void {
    try {
      const queues = this.#queues.map((q) => (q.ready ? this.#makeQueue(q) : undefined));
      this.#active = true;
      this.#dev.activate({
        mem: this.#mem,
        queues,
        features: this.#driverFeatures,
        notifyUsed: () => this.#interrupt(INT.VRING),
        notifyConfig: () => {
          this.#configGeneration = (this.#configGeneration + 1) >>> 0;
          this.#interrupt(INT.CONFIG);
        },
        needsReset: (reason) => this.#needsReset(reason),
      });
    } catch (e) {
      if (!(e instanceof VirtqueueError)) throw e;
      this.#needsReset(e.message);
    }
  }

  #interrupt(bits: number): void {
    this.#interruptStatus |= bits;
    this.#irq.trigger();
  }

  // §2.1.2: set DEVICE_NEEDS_RESET and tell the driver with a configuration-change interrupt.
  #needsReset(reason: string): void {
    log.warn(`${this.#dev.name}: ${reason}; the device needs a reset`);
    if (this.#status & STATUS.DEVICE_NEEDS_RESET) return;
    this.#status |= STATUS.DEVICE_NEEDS_RESET;
    if (this.#active) {
      this.#active = false;
      this.#dev.reset();
    }
    if (this.#status & STATUS.DRIVER_OK) this.#interrupt(INT.CONFIG);
  }

  #reset(): void {
    if (this.#active || this.#status !== 0) this.#dev.reset();
    this.#active = false;
    this.#status = 0;
    this.#deviceFeaturesSel = 0;
    this.#driverFeaturesSel = 0;
    this.#driverFeatures = 0n;
    this.#queueSel = 0;
    this.#queues = this.#dev.queueMaxSizes.map(newQueue);
    this.#interruptStatus = 0;
  }
}
