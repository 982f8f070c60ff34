/**
 * virtio-console (virtio 1.2 §5.3) with MULTIPORT: port 0 is the guest console (hvc0); further
 * ports carry a name (`/dev/virtio-ports/NAME` in the guest) and are byte streams for host
 * programs, such as the sandbox agent's channel.
 *
 * Queues: port 0 receive/transmit (0, 1), control receive/transmit (2, 3), then port N
 * receive/transmit at 2(N+1) and 2(N+1)+1.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import { logger } from "../../log.ts";
import { type ActivateContext, bit, VIRTIO_F, VIRTIO_ID, type VirtioDevice } from "../device.ts";
import type { DescriptorChain, SplitQueue } from "../queue/split_queue.ts";
import { type ControlMessage, decodeControl, encodeControl, VIRTIO_CONSOLE } from "./control.ts";

const log = logger("virtio", "console");

/** Feature bits (§5.3.3). */
export const VIRTIO_CONSOLE_F = { SIZE: 0n, MULTIPORT: 1n, EMERG_WRITE: 2n } as const;
/** Queue size offered. */
export const CONSOLE_QUEUE_SIZE = 256;

/** A port as the host configures it. */
export interface ConsolePortConfig {
  /** Guest-visible name (absent for the console port). */
  name?: string;
  /** Receives what the guest writes to the port (the buffer is only valid during the call). */
  output: (bytes: Uint8Array) => void;
  /** Called when the guest opens (true) or closes (false) the port. */
  onGuestOpen?: (open: boolean) => void;
}

interface Port extends ConsolePortConfig {
  id: number;
  ready: boolean;
  guestOpen: boolean;
  /** Host input waiting for receive buffers, with the resolver of each write. */
  pending: { bytes: Uint8Array; done: () => void }[];
}

/**
 * The console device.
 *
 * @example
 * ```ts
 * const con = new ConsoleDevice("console0", [
 *   { output: (b) => Deno.stdout.writeSync(b) },
 *   { name: "denovmm.agent", output: (b) => agent.feed(b) },
 * ]);
 * await con.sendInput(1, bytes);
 * ```
 */
export class ConsoleDevice implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.CONSOLE;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes: number[];
  readonly #ports: Port[];
  readonly #multiport: boolean;
  #ctx?: ActivateContext;
  #control: Uint8Array[] = [];
  /** Bytes the guest wrote, per port. */
  readonly bytesOut: number[];
  /** Bytes delivered to the guest, per port. */
  readonly bytesIn: number[];

  /** @example `new ConsoleDevice("console0", [{ output }])` */
  constructor(name: string, ports: ConsolePortConfig[]) {
    if (ports.length === 0) throw new Error("virtio-console needs at least one port");
    this.name = name;
    this.#ports = ports.map((p, id) => ({ ...p, id, ready: false, guestOpen: false, pending: [] }));
    this.#multiport = ports.length > 1;
    this.features = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_EVENT_IDX) |
      bit(VIRTIO_F.RING_INDIRECT_DESC) |
      (this.#multiport ? bit(VIRTIO_CONSOLE_F.MULTIPORT) : 0n);
    const queues = this.#multiport ? 2 * (ports.length + 1) : 2;
    this.queueMaxSizes = Array(queues).fill(CONSOLE_QUEUE_SIZE);
    this.bytesOut = ports.map(() => 0);
    this.bytesIn = ports.map(() => 0);
  }

  /** Whether the guest has port `id` open. */
  isGuestOpen(id: number): boolean {
    return this.#ports[id]?.guestOpen ?? false;
  }

  // §5.3.4: cols, rows, max_nr_ports, emerg_wr.
  readConfig(offset: number, data: Uint8Array): void {
    const cfg = new Uint8Array(12);
    new DataView(cfg.buffer).setUint32(4, this.#ports.length, true);
    for (let i = 0; i < data.length; i++) data[i] = cfg[offset + i] ?? 0;
  }

  writeConfig(offset: number, data: Uint8Array): void {
    // emerg_wr (offset 8): an early write the driver makes before the queues run.
    if (offset === 8 && data.length >= 1) this.#ports[0].output(data.subarray(0, 1));
  }

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    if (!this.#multiport) {
      this.#ports[0].ready = true;
      this.#ports[0].guestOpen = true;
    }
    for (let i = 0; i < this.queueMaxSizes.length; i++) this.queueNotify(i);
  }

  reset(): void {
    this.#ctx = undefined;
    this.#control = [];
    for (const p of this.#ports) {
      p.ready = false;
      if (p.guestOpen) p.onGuestOpen?.(false);
      p.guestOpen = false;
    }
  }

  quiesce(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Queues host bytes for port `id`; resolves once they are all in guest receive buffers.
   *
   * @example
   * ```ts
   * await con.sendInput(0, new TextEncoder().encode("ls\n"));
   * ```
   */
  sendInput(id: number, bytes: Uint8Array): Promise<void> {
    const port = this.#ports[id];
    if (port === undefined) return Promise.reject(new Error(`No console port ${id}`));
    if (bytes.length === 0) return Promise.resolve();
    return new Promise((done) => {
      port.pending.push({ bytes: bytes.slice(), done });
      this.#fillRx(port);
    });
  }

  #queue(i: number): SplitQueue | undefined {
    return this.#ctx?.queues[i];
  }

  #rxIndex(id: number): number {
    return id === 0 ? 0 : 2 * (id + 1);
  }

  queueNotify(index: number): void {
    const ctx = this.#ctx;
    if (ctx === undefined) return;
    try {
      if (index === 2 && this.#multiport) this.#flushControl();
      else if (index === 3 && this.#multiport) this.#readControl(ctx.mem);
      else if (index % 2 === 1) this.#readTx(index === 1 ? 0 : (index - 1) / 2 - 1, ctx.mem);
      else this.#fillRx(this.#ports[index === 0 ? 0 : index / 2 - 1]);
    } catch (e) {
      ctx.needsReset((e as Error).message);
    }
  }

  #readTx(id: number, mem: GuestMemory): void {
    const q = this.#queue(id === 0 ? 1 : 2 * (id + 1) + 1);
    const port = this.#ports[id];
    if (q === undefined || port === undefined) return;
    let any = false;
    for (let c = q.pop(); c !== null; c = q.pop()) {
      for (const b of c.readable) {
        if (b.len === 0) continue;
        this.bytesOut[id] += b.len;
        port.output(mem.slice(b.addr, b.len));
      }
      q.addUsed(c.head, 0);
      any = true;
    }
    if (any && q.needsInterrupt()) this.#ctx?.notifyUsed();
  }

  #fillRx(port: Port | undefined): void {
    const ctx = this.#ctx;
    if (port === undefined || ctx === undefined || !port.ready || port.pending.length === 0) return;
    const q = this.#queue(this.#rxIndex(port.id));
    if (q === undefined) return;
    let any = false;
    while (port.pending.length > 0) {
      const c = q.pop();
      if (c === null) break;
      const written = this.#copyInto(ctx.mem, c, port);
      q.addUsed(c.head, written);
      any = true;
    }
    if (any && q.needsInterrupt()) ctx.notifyUsed();
  }

  // Fills one chain's writable buffers from the port's pending input; returns bytes written.
  #copyInto(mem: GuestMemory, c: DescriptorChain, port: Port): number {
    let written = 0;
    for (const b of c.writable) {
      let off = 0;
      while (off < b.len && port.pending.length > 0) {
        const head = port.pending[0];
        const n = Math.min(b.len - off, head.bytes.length);
        mem.write(b.addr + off, head.bytes.subarray(0, n));
        off += n;
        written += n;
        if (n === head.bytes.length) {
          port.pending.shift();
          head.done();
        } else head.bytes = head.bytes.subarray(n);
      }
      if (port.pending.length === 0) break;
    }
    this.bytesIn[port.id] += written;
    return written;
  }

  #readControl(mem: GuestMemory): void {
    const q = this.#queue(3);
    if (q === undefined) return;
    let any = false;
    for (let c = q.pop(); c !== null; c = q.pop()) {
      const bytes = new Uint8Array(c.readable.reduce((a, b) => a + b.len, 0));
      let at = 0;
      for (const b of c.readable) {
        bytes.set(mem.slice(b.addr, b.len), at);
        at += b.len;
      }
      q.addUsed(c.head, 0);
      any = true;
      const m = decodeControl(bytes);
      if (m) this.#onControl(m);
    }
    if (any && q.needsInterrupt()) this.#ctx?.notifyUsed();
    this.#flushControl();
  }

  #onControl(m: ControlMessage): void {
    switch (m.event) {
      case VIRTIO_CONSOLE.DEVICE_READY:
        if (m.value !== 1) {
          log.warn(`${this.name}: the guest driver failed to initialise`);
          return;
        }
        for (const p of this.#ports) {
          this.#send({ id: p.id, event: VIRTIO_CONSOLE.DEVICE_ADD, value: 0 });
        }
        return;
      case VIRTIO_CONSOLE.PORT_READY: {
        const p = this.#ports[m.id];
        if (p === undefined || m.value !== 1) return;
        p.ready = true;
        if (p.id === 0) this.#send({ id: 0, event: VIRTIO_CONSOLE.CONSOLE_PORT, value: 1 });
        if (p.name !== undefined) {
          this.#send(
            { id: p.id, event: VIRTIO_CONSOLE.PORT_NAME, value: 1 },
            new TextEncoder().encode(p.name),
          );
        }
        // The host end is always open: the guest may write at once.
        this.#send({ id: p.id, event: VIRTIO_CONSOLE.PORT_OPEN, value: 1 });
        this.#fillRx(p);
        return;
      }
      case VIRTIO_CONSOLE.PORT_OPEN: {
        const p = this.#ports[m.id];
        if (p === undefined) return;
        p.guestOpen = m.value === 1;
        p.onGuestOpen?.(p.guestOpen);
        if (p.guestOpen) this.#fillRx(p);
        return;
      }
      default:
        log.debug(`${this.name}: control event ${m.event} ignored`);
    }
  }

  #send(m: ControlMessage, extra?: Uint8Array): void {
    this.#control.push(encodeControl(m, extra));
  }

  #flushControl(): void {
    const q = this.#queue(2);
    const ctx = this.#ctx;
    if (q === undefined || ctx === undefined) return;
    let any = false;
    while (this.#control.length > 0) {
      const c = q.pop();
      if (c === null) break;
      const msg = this.#control.shift()!;
      let at = 0;
      for (const b of c.writable) {
        const n = Math.min(b.len, msg.length - at);
        ctx.mem.write(b.addr, msg.subarray(at, at + n));
        at += n;
        if (at === msg.length) break;
      }
      q.addUsed(c.head, at);
      any = true;
    }
    if (any && q.needsInterrupt()) ctx.notifyUsed();
  }
}
