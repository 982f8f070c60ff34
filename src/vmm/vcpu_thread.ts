/**
 * The main-thread side of one vCPU: starts its Worker, serves the PIO/MMIO accesses the Worker
 * posts to the shared mailbox, and stops it (stop flag, `immediate_exit`, then a signal that
 * kicks the thread out of `KVM_RUN`).
 *
 * @module
 */

import type { Vcpu } from "../../ffi/kvm.ts";
import { KVM_RUN_OFFSETS } from "../../ffi/kvm_structs.ts";
import { libc, SIGURG } from "../../ffi/libc.ts";
import type { IoBus } from "../devices/bus.ts";
import {
  ACCESS,
  MAILBOX_BYTES,
  MAILBOX_DATA_OFFSET,
  MB,
  STATE,
  type VcpuEvent,
  type VcpuInit,
  type VcpuStopReason,
} from "./exit_mailbox.ts";
import { kickSignal } from "./kick_signal.ts";

/** Counters of the exits this vCPU sent to the main thread. */
export interface VcpuExitCounters {
  pioIn: number;
  pioOut: number;
  mmioRead: number;
  mmioWrite: number;
  unhandled: number;
}

/** Options of {@link VcpuThread}. */
export interface VcpuThreadOptions {
  /** The vCPU, created and configured by the main thread (it owns the fd and `kvm_run`). */
  vcpu: Vcpu;
  /** Port I/O devices. */
  pio: IoBus;
  /** MMIO devices. */
  mmio: IoBus;
  /** End the run loop on HLT (only exits without the in-kernel irqchip). */
  stopOnHlt?: boolean;
  /** Called for accesses no device claims (kind "pio"/"mmio", address, size, write?). */
  onUnhandled?: (kind: "pio" | "mmio", addr: number, size: number, write: boolean) => void;
}

/**
 * One vCPU running in its own Worker.
 *
 * @example
 * ```ts
 * const t = new VcpuThread({ vcpu, pio, mmio });
 * t.start();
 * const why = await t.stopped;
 * ```
 */
export class VcpuThread {
  readonly #opts: VcpuThreadOptions;
  readonly #mb: Int32Array;
  readonly #mbBuffer = new SharedArrayBuffer(MAILBOX_BYTES);
  readonly #views: Uint8Array[];
  readonly #counters: VcpuExitCounters = {
    pioIn: 0,
    pioOut: 0,
    mmioRead: 0,
    mmioWrite: 0,
    unhandled: 0,
  };
  readonly #stopped: Promise<VcpuStopReason>;
  #resolveStopped!: (r: VcpuStopReason) => void;
  #worker?: Worker;
  #thread?: bigint;
  #done = false;
  #stopRequested = false;

  /** @example `new VcpuThread({ vcpu, pio, mmio })` */
  constructor(opts: VcpuThreadOptions) {
    this.#opts = opts;
    this.#mb = new Int32Array(this.#mbBuffer);
    this.#views = [];
    for (const n of [1, 2, 4, 8]) {
      this.#views[n] = new Uint8Array(this.#mbBuffer, MAILBOX_DATA_OFFSET, n);
    }
    this.#stopped = new Promise((r) => (this.#resolveStopped = r));
  }

  /** Resolves with the reason once the Worker has left `KVM_RUN` for good. */
  get stopped(): Promise<VcpuStopReason> {
    return this.#stopped;
  }

  /** Exit counters (live). */
  get counters(): Readonly<VcpuExitCounters> {
    return this.#counters;
  }

  /** The vCPU index. */
  get id(): number {
    return this.#opts.vcpu.id;
  }

  /** Starts the Worker and the mailbox server. @example `t.start()` */
  start(): void {
    kickSignal.acquire();
    const w = new Worker(new URL("./vcpu_worker.ts", import.meta.url), {
      type: "module",
      name: `vcpu${this.id}`,
    });
    this.#worker = w;
    w.onmessage = (e: MessageEvent<VcpuEvent>) => {
      const ev = e.data;
      if (ev.type === "started") {
        this.#thread = ev.thread;
        if (this.#stopRequested || Atomics.load(this.#mb, MB.PAUSE) !== 0) this.#kick();
      } else this.#finish(ev.reason);
    };
    w.onerror = (e) => {
      e.preventDefault();
      this.#finish({ kind: "error", message: `vCPU ${this.id} worker failed: ${e.message}` });
    };
    const { vcpu } = this.#opts;
    const init: VcpuInit = {
      id: vcpu.id,
      fd: vcpu.fd,
      runAddr: vcpu.runAddress,
      runSize: vcpu.runBytes.byteLength,
      mailbox: this.#mbBuffer,
      stopOnHlt: this.#opts.stopOnHlt ?? false,
    };
    w.postMessage(init);
    this.#serve();
  }

  /**
   * Asks the vCPU to leave `KVM_RUN` and end its loop; `stopped` resolves when it has.
   *
   * @example
   * ```ts
   * t.requestStop();
   * await t.stopped;
   * ```
   */
  requestStop(): void {
    if (this.#done || this.#stopRequested) return;
    this.#stopRequested = true;
    if (this.#worker === undefined) {
      // Never started: nothing runs, nothing to kick.
      this.#done = true;
      this.#resolveStopped({ kind: "requested" });
      return;
    }
    Atomics.store(this.#mb, MB.STOP, 1);
    // immediate_exit makes a KVM_RUN entered after this point return at once, closing the race
    // between the Worker's STOP check and the signal.
    this.#opts.vcpu.runBytes[KVM_RUN_OFFSETS.immediateExit] = 1;
    if (Atomics.load(this.#mb, MB.STATE) === STATE.REQUEST) {
      Atomics.store(this.#mb, MB.STATE, STATE.REPLY);
    }
    Atomics.notify(this.#mb, MB.STATE);
    Atomics.notify(this.#mb, MB.PAUSE); // a parked Worker wakes up and sees STOP
    this.#kick();
  }

  /**
   * Parks the vCPU outside `KVM_RUN` (pause) and resolves once it is parked, or once it has
   * stopped for good. The Worker, the vCPU fd and all guest state stay; {@link resume} continues.
   * A vCPU in the middle of a device access finishes that access first.
   *
   * @example
   * ```ts
   * await t.pause();
   * t.resume();
   * ```
   */
  async pause(): Promise<void> {
    if (this.#done || this.#stopRequested) return;
    const mb = this.#mb;
    Atomics.store(mb, MB.PAUSE, 1);
    // Same two-step kick as requestStop: immediate_exit covers a Worker about to enter KVM_RUN,
    // the signal one already inside it.
    this.#opts.vcpu.runBytes[KVM_RUN_OFFSETS.immediateExit] = 1;
    this.#kick();
    while (!this.#done && Atomics.load(mb, MB.PAUSE) !== 0 && Atomics.load(mb, MB.PARKED) === 0) {
      // Bounded waits: the Worker may stop instead of parking, and that arrives as a message.
      const w = Atomics.waitAsync(mb, MB.PARKED, 0, 50);
      if (w.async) await w.value;
    }
  }

  /** Lets a paused vCPU run again. @example `t.resume()` */
  resume(): void {
    if (this.#done || this.#stopRequested) return;
    // immediate_exit first: once PAUSE is 0 the Worker may enter KVM_RUN at any moment.
    this.#opts.vcpu.runBytes[KVM_RUN_OFFSETS.immediateExit] = 0;
    Atomics.store(this.#mb, MB.PAUSE, 0);
    Atomics.notify(this.#mb, MB.PAUSE);
  }

  /** True while the Worker is parked by {@link pause}. @example `t.parked` */
  get parked(): boolean {
    return !this.#done && Atomics.load(this.#mb, MB.PARKED) !== 0;
  }

  #kick(): void {
    if (this.#thread !== undefined && !this.#done) libc.symbols.pthread_kill(this.#thread, SIGURG);
  }

  #finish(reason: VcpuStopReason): void {
    if (this.#done) return;
    this.#done = true;
    Atomics.notify(this.#mb, MB.STATE);
    this.#worker?.terminate();
    kickSignal.release();
    this.#resolveStopped(reason);
  }

  async #serve(): Promise<void> {
    const mb = this.#mb;
    const { pio, mmio } = this.#opts;
    const c = this.#counters;
    while (!this.#done) {
      const state = Atomics.load(mb, MB.STATE);
      if (state !== STATE.REQUEST || this.#stopRequested) {
        const w = Atomics.waitAsync(mb, MB.STATE, state);
        if (w.async) await w.value;
        if (this.#stopRequested && !this.#done) {
          // The Worker may still post one more access while it unwinds: answer it so it can exit.
          if (Atomics.load(mb, MB.STATE) === STATE.REQUEST) {
            Atomics.store(mb, MB.STATE, STATE.REPLY);
            Atomics.notify(mb, MB.STATE);
          }
        }
        continue;
      }
      const kind = mb[MB.KIND];
      const size = mb[MB.SIZE];
      const addr = (mb[MB.ADDR_LO] >>> 0) + mb[MB.ADDR_HI] * 0x1_0000_0000;
      const data = this.#views[size] ?? this.#views[8];
      let handled = true;
      switch (kind) {
        case ACCESS.PIO_IN:
          c.pioIn++;
          data.fill(0xff);
          handled = pio.read(addr, data);
          if (!handled) data.fill(0xff);
          break;
        case ACCESS.PIO_OUT:
          c.pioOut++;
          handled = pio.write(addr, data);
          break;
        case ACCESS.MMIO_READ:
          c.mmioRead++;
          data.fill(0);
          handled = mmio.read(addr, data);
          break;
        case ACCESS.MMIO_WRITE:
          c.mmioWrite++;
          handled = mmio.write(addr, data);
          break;
      }
      if (!handled) {
        c.unhandled++;
        this.#opts.onUnhandled?.(
          kind <= ACCESS.PIO_OUT ? "pio" : "mmio",
          addr,
          size,
          kind === ACCESS.PIO_OUT || kind === ACCESS.MMIO_WRITE,
        );
      }
      Atomics.store(mb, MB.STATE, STATE.REPLY);
      Atomics.notify(mb, MB.STATE);
    }
  }
}
