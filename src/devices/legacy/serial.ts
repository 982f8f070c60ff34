/**
 * A 16550A UART (the PC's COM1) as Linux's 8250 driver sees it: the eight registers, the divisor
 * latch, a receive FIFO with back-pressure towards the host, loopback, and the interrupt output.
 *
 * Transmission is instantaneous: each THR write goes straight to the output callback, so THRE
 * and TEMT always read as set. Reception reports "data available" from the first byte (as a
 * trigger level of 1 would); Linux treats that and the character-timeout interrupt alike.
 *
 * The interrupt output is modelled as the level the chip drives (some enabled source pending,
 * gated by MCR OUT2 as on a PC, and cut off in loopback) and the `interrupt` callback pulses the
 * IRQ line on each rising edge. That is what an edge-triggered ISA IRQ sees, and Linux's 8250
 * handler is written for it: it loops until IIR reads "no interrupt", so the level is low when it
 * returns and any later event makes a new edge. A THR write lowers and raises THRE's interrupt,
 * so each write with THRI enabled pulses again, as does enabling THRI (the driver starts
 * transmitting that way).
 *
 * @example
 * ```ts
 * import { Serial } from "./serial.ts";
 * const com1 = new Serial({
 *   output: (bytes) => Deno.stdout.writeSync(bytes),
 *   interrupt: () => pulseIrq(4),
 * });
 * pio.insert(0x3f8, 8, com1, "com1");
 * ```
 * @module
 */

import type { BusDevice } from "../bus.ts";
import { ByteFifo } from "./byte_fifo.ts";
import { FCR, IER, IIR, LCR_DLAB, LSR, MCR, MSR, UART } from "./uart_regs.ts";

/**
 * Depth of the receive FIFO fed by the host. Larger than the chip's 16 bytes so one interrupt
 * delivers more input; the host keeps the rest until {@link Serial.enqueueInput} accepts it.
 *
 * @example
 * ```ts
 * const took = com1.enqueueInput(new Uint8Array(100)); // RX_FIFO_SIZE at most
 * ```
 */
export const RX_FIFO_SIZE = 64;

/**
 * Bytes the FIFO takes in loopback before overrunning: the real chip's 16, because Linux's
 * FIFO-size probe counts them in loopback and would take 64 for a different chip.
 *
 * @example
 * ```ts
 * // in loopback, the 17th unread byte written to THR sets LSR.OE
 * ```
 */
export const LOOPBACK_FIFO_SIZE = 16;

/** Modem inputs with nothing attached but a willing terminal: carrier, data set ready, CTS. */
const EXTERNAL_LINES = MSR.DCD | MSR.DSR | MSR.CTS;

/**
 * Options of {@link Serial}.
 *
 * @example
 * ```ts
 * const opts: SerialOptions = { output: (b) => log.push(...b), interrupt: () => irqs++ };
 * ```
 */
export interface SerialOptions {
  /**
   * Receives each transmitted byte as soon as the guest writes it (the guest console). The
   * buffer is reused: copy it to keep it.
   */
  output: (bytes: Uint8Array) => void;
  /** Pulses the UART's IRQ line (an edge): an enabled interrupt condition became pending. */
  interrupt: () => void;
  /**
   * Called, from a microtask, when the receive FIFO has room again after
   * {@link Serial.enqueueInput} refused bytes.
   */
  onRxSpace?: () => void;
}

/**
 * One 16550A. Offsets 0-7 from its base port; accesses wider than a byte use the low byte.
 *
 * @example
 * ```ts
 * const com1 = new Serial({ output: (b) => out.push(...b), interrupt: () => irq.pulse() });
 * com1.write(0, new Uint8Array([0x41])); // out: [0x41]
 * com1.enqueueInput(new TextEncoder().encode("ls\n")); // 3
 * ```
 */
export class Serial implements BusDevice {
  /** Bytes the guest transmitted (loopback excluded). */
  bytesOut = 0;
  /** Bytes of host input accepted into the receive FIFO. */
  bytesIn = 0;
  /** IRQ pulses raised. */
  interrupts = 0;

  readonly #o: SerialOptions;
  readonly #rx = new ByteFifo(RX_FIFO_SIZE);
  readonly #txByte = new Uint8Array(1);
  #ier = 0;
  #lcr = 0;
  #mcr = 0;
  #scr = 0;
  #dll = 0x0c; // 9600 baud until the guest programs it
  #dlm = 0;
  #fifoEnabled = false;
  /** LSR error bits (only OE can happen here), cleared by reading LSR. */
  #lineErrors = 0;
  /** MSR low nibble: which modem inputs changed since MSR was last read. */
  #msrDeltas = 0;
  /** THRE's interrupt latch: set when THR empties or THRI is enabled, cleared by IIR reads. */
  #threPending = false;
  /** The level of the interrupt output as the IRQ line last saw it. */
  #irqLevel = false;
  /** The host was refused input (or is waiting) and must hear when there is room. */
  #rxWanted = false;
  #rxWaiters: (() => void)[] = [];

  /**
   * A UART in its reset state: interrupts disabled, FIFOs off, 9600 baud divisor.
   *
   * @example
   * ```ts
   * new Serial({ output: (b) => Deno.stdout.writeSync(b), interrupt: () => {} });
   * ```
   */
  constructor(options: SerialOptions) {
    this.#o = options;
  }

  /**
   * Queues host input for the guest and returns how many bytes of `bytes` were accepted: the
   * rest does not fit the FIFO (or the UART is in loopback, where the line is disconnected) and
   * should be offered again once `onRxSpace` fires or {@link waitForRxSpace} resolves.
   *
   * @example
   * ```ts
   * let rest = new TextEncoder().encode("echo hello\n");
   * while (rest.length > 0) {
   *   rest = rest.subarray(com1.enqueueInput(rest));
   *   if (rest.length > 0) await com1.waitForRxSpace();
   * }
   * ```
   */
  enqueueInput(bytes: Uint8Array): number {
    const n = this.#mcr & MCR.LOOP ? 0 : this.#rx.pushFrom(bytes);
    if (n < bytes.length) this.#rxWanted = true;
    if (n > 0) {
      this.bytesIn += n;
      this.#updateIrq();
    }
    return n;
  }

  /**
   * Bytes {@link enqueueInput} would accept now.
   *
   * @example
   * ```ts
   * if (com1.rxFree === 0) await com1.waitForRxSpace();
   * ```
   */
  get rxFree(): number {
    return this.#mcr & MCR.LOOP ? 0 : this.#rx.free;
  }

  /**
   * Resolves when {@link enqueueInput} can accept at least one byte (at once if it can now).
   *
   * @example
   * ```ts
   * await com1.waitForRxSpace();
   * com1.enqueueInput(pending);
   * ```
   */
  waitForRxSpace(): Promise<void> {
    if (this.rxFree > 0) return Promise.resolve();
    this.#rxWanted = true;
    return new Promise((resolve) => this.#rxWaiters.push(resolve));
  }

  /**
   * The divisor the guest programmed (the baud rate is 115200 divided by it).
   *
   * @example
   * ```ts
   * const baud = 115200 / com1.divisor;
   * ```
   */
  get divisor(): number {
    return (this.#dlm << 8) | this.#dll;
  }

  /**
   * A guest read of register `offset`.
   *
   * @example
   * ```ts
   * const d = new Uint8Array(1);
   * com1.read(5, d); // LSR: 0x60, transmitter empty
   * ```
   */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    data[0] = this.#readRegister(offset);
  }

  /**
   * A guest write of register `offset` (the low byte of `data`).
   *
   * @example
   * ```ts
   * com1.write(1, new Uint8Array([0x02])); // IER = THRI: raises the interrupt at once
   * ```
   */
  write(offset: number, data: Uint8Array): void {
    this.#writeRegister(offset, data[0]);
  }

  #readRegister(offset: number): number {
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART.DATA: {
        if (dlab) return this.#dll;
        const b = this.#rx.pop();
        this.#updateIrq();
        this.#announceRoom();
        return b < 0 ? 0 : b;
      }
      case UART.IER:
        return dlab ? this.#dlm : this.#ier;
      case UART.IIR_FCR: {
        const source = this.#pendingSource();
        // Reading IIR while it names THRE acknowledges that interrupt (datasheet, table 4).
        if (source === IIR.THRI) {
          this.#threPending = false;
          this.#updateIrq();
        }
        return source | (this.#fifoEnabled ? IIR.FIFO_ENABLED : 0);
      }
      case UART.LCR:
        return this.#lcr;
      case UART.MCR:
        return this.#mcr;
      case UART.LSR: {
        const v = (this.#rx.length > 0 ? LSR.DR : 0) | LSR.THRE | LSR.TEMT | this.#lineErrors;
        this.#lineErrors = 0;
        this.#updateIrq();
        return v;
      }
      case UART.MSR: {
        const v = this.#modemLines() | this.#msrDeltas;
        this.#msrDeltas = 0;
        this.#updateIrq();
        return v;
      }
      case UART.SCR:
        return this.#scr;
      default:
        return 0xff;
    }
  }

  #writeRegister(offset: number, v: number): void {
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART.DATA:
        if (dlab) this.#dll = v;
        else this.#transmit(v);
        return;
      case UART.IER: {
        if (dlab) {
          this.#dlm = v;
          return;
        }
        const was = this.#ier;
        // Bits 4-7 do not exist on a 16550A; Linux's probe checks they read back as 0.
        this.#ier = v & 0x0f;
        if (this.#ier & ~was & IER.THRI) this.#threPending = true; // THR is always empty
        this.#updateIrq();
        return;
      }
      case UART.IIR_FCR: {
        // FCR ignores DLAB: Linux writes its "EFR" probes here with LCR = 0xbf and relies on it.
        const enable = (v & FCR.ENABLE) !== 0;
        if (enable !== this.#fifoEnabled || (enable && (v & FCR.CLEAR_RX))) {
          this.#rx.clear();
          this.#updateIrq();
          this.#announceRoom();
        }
        this.#fifoEnabled = enable;
        return;
      }
      case UART.LCR:
        this.#lcr = v;
        return;
      case UART.MCR: {
        const before = this.#modemLines();
        this.#mcr = v & 0x1f;
        const after = this.#modemLines();
        // CTS, DSR and DCD changes set their delta bits; RI sets TERI only when it turns off.
        this.#msrDeltas |= (((before ^ after) & (MSR.CTS | MSR.DSR | MSR.DCD)) |
          (before & ~after & MSR.RI)) >> 4;
        this.#updateIrq();
        this.#announceRoom(); // leaving loopback reconnects the host
        return;
      }
      case UART.SCR:
        this.#scr = v;
        return;
      default:
        return; // LSR and MSR are read-only
    }
  }

  #transmit(v: number): void {
    // The byte leaves THR at once, but THRE's interrupt still drops and rises: a fresh edge.
    this.#threPending = false;
    this.#updateIrq();
    if (this.#mcr & MCR.LOOP) {
      if (this.#rx.length < LOOPBACK_FIFO_SIZE) this.#rx.push(v);
      else this.#lineErrors |= LSR.OE;
    } else {
      this.#txByte[0] = v;
      this.bytesOut++;
      this.#o.output(this.#txByte);
    }
    this.#threPending = true;
    this.#updateIrq();
  }

  /** MSR high nibble: the modem inputs, which loopback wires to MCR's outputs. */
  #modemLines(): number {
    const m = this.#mcr;
    if ((m & MCR.LOOP) === 0) return EXTERNAL_LINES;
    return (m & MCR.RTS ? MSR.CTS : 0) | (m & MCR.DTR ? MSR.DSR : 0) |
      (m & MCR.OUT1 ? MSR.RI : 0) | (m & MCR.OUT2 ? MSR.DCD : 0);
  }

  /** IIR bits 0-3: the highest-priority enabled pending source, or NO_INT. */
  #pendingSource(): number {
    const ier = this.#ier;
    if (ier & IER.RLSI && this.#lineErrors) return IIR.RLSI;
    if (ier & IER.RDI && this.#rx.length > 0) return IIR.RDI;
    if (ier & IER.THRI && this.#threPending) return IIR.THRI;
    if (ier & IER.MSI && this.#msrDeltas) return IIR.MSI;
    return IIR.NO_INT;
  }

  #updateIrq(): void {
    const level = (this.#mcr & (MCR.OUT2 | MCR.LOOP)) === MCR.OUT2 &&
      this.#pendingSource() !== IIR.NO_INT;
    if (level && !this.#irqLevel) {
      this.interrupts++;
      this.#o.interrupt();
    }
    this.#irqLevel = level;
  }

  #announceRoom(): void {
    if (!this.#rxWanted || this.rxFree === 0) return;
    this.#rxWanted = false;
    // Deferred: the host must not re-enter the UART in the middle of a guest register access.
    queueMicrotask(() => {
      const waiters = this.#rxWaiters;
      this.#rxWaiters = [];
      for (const resolve of waiters) resolve();
      this.#o.onRxSpace?.();
    });
  }
}
