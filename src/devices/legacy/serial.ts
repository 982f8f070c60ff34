/**
 * A 16550A UART (the PC's COM1): the registers Linux's 8250 driver probes and uses, a 64-byte
 * receive FIFO with back-pressure, loopback, and edge interrupts for "transmitter empty" and
 * "data ready". Transmission is instantaneous: every byte written to THR goes straight to the
 * output callback.
 *
 * @module
 */

import type { BusDevice } from "../bus.ts";

/** Register offsets from the base port. */
export const UART = {
  /** RBR (read) / THR (write); DLL when DLAB is set. */
  DATA: 0,
  /** IER; DLM when DLAB is set. */
  IER: 1,
  /** IIR (read) / FCR (write). */
  IIR_FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

/** IER bits. */
export const IER = { RDI: 1, THRI: 2, RLSI: 4, MSI: 8 } as const;
/** IIR values (FIFO-enabled bits 6-7 added when the FIFO is on). */
export const IIR = { NONE: 1, MSI: 0, THRI: 2, RDI: 4, RLSI: 6, FIFO_ENABLED: 0xc0 } as const;
/** LCR bits. */
export const LCR_DLAB = 0x80;
/** MCR bits. */
export const MCR = { DTR: 1, RTS: 2, OUT1: 4, OUT2: 8, LOOP: 0x10 } as const;
/** LSR bits. */
export const LSR = { DR: 1, OE: 2, THRE: 0x20, TEMT: 0x40 } as const;
/** MSR bits. */
export const MSR = {
  DCTS: 1,
  DDSR: 2,
  TERI: 4,
  DDCD: 8,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;
/** FCR bits. */
const FCR = { ENABLE: 1, CLEAR_RX: 2 } as const;
/** Receive FIFO depth. */
export const RX_FIFO_SIZE = 64;

/** Options of {@link Serial}. */
export interface SerialOptions {
  /** Receives transmitted bytes (the guest console output); the buffer is reused, copy to keep. */
  output: (bytes: Uint8Array) => void;
  /** Pulses the UART's interrupt line. */
  interrupt: () => void;
  /** Called when the receive FIFO has room again after refusing input. */
  onRxSpace?: () => void;
}

/**
 * One 16550A.
 *
 * @example
 * ```ts
 * const com1 = new Serial({ output: (b) => Deno.stdout.writeSync(b), interrupt: () => irq.pulse() });
 * pio.insert(0x3f8, 8, com1, "com1");
 * ```
 */
export class Serial implements BusDevice {
  readonly #o: SerialOptions;
  #ier = 0;
  #lcr = 0x03; // 8N1
  #mcr: number = MCR.OUT2;
  #lsr: number = LSR.THRE | LSR.TEMT;
  #msr: number = MSR.DSR | MSR.CTS | MSR.DCD;
  #scr = 0;
  #dll = 0x0c; // 9600 baud
  #dlm = 0;
  #fifoEnabled = false;
  #thriPending = false;
  readonly #rx = new Uint8Array(RX_FIFO_SIZE);
  #rxHead = 0;
  #rxLen = 0;
  #rxRefused = false;
  readonly #byte = new Uint8Array(1);
  /** Bytes transmitted by the guest. */
  bytesOut = 0;
  /** Bytes given to the guest. */
  bytesIn = 0;
  /** Interrupts raised. */
  interrupts = 0;

  /** @example `new Serial({ output, interrupt })` */
  constructor(o: SerialOptions) {
    this.#o = o;
  }

  /**
   * Queues host input for the guest; returns how many bytes fit in the FIFO (the rest must be
   * offered again after `onRxSpace`).
   *
   * @example
   * ```ts
   * const took = com1.enqueueInput(new TextEncoder().encode("ls\n"));
   * ```
   */
  enqueueInput(bytes: Uint8Array): number {
    if (this.#mcr & MCR.LOOP) return 0; // in loopback the line is disconnected
    const n = Math.min(bytes.length, RX_FIFO_SIZE - this.#rxLen);
    for (let i = 0; i < n; i++) this.#push(bytes[i]);
    if (n < bytes.length) this.#rxRefused = true;
    if (n > 0) {
      this.bytesIn += n;
      this.#update();
    }
    return n;
  }

  #push(b: number): void {
    this.#rx[(this.#rxHead + this.#rxLen) % RX_FIFO_SIZE] = b;
    this.#rxLen++;
    this.#lsr |= LSR.DR;
  }

  #pop(): number {
    if (this.#rxLen === 0) return 0;
    const b = this.#rx[this.#rxHead];
    this.#rxHead = (this.#rxHead + 1) % RX_FIFO_SIZE;
    this.#rxLen--;
    if (this.#rxLen === 0) this.#lsr &= ~LSR.DR;
    if (this.#rxRefused && this.#rxLen < RX_FIFO_SIZE) {
      this.#rxRefused = false;
      queueMicrotask(() => this.#o.onRxSpace?.());
    }
    return b;
  }

  // The highest-priority pending source (16550A datasheet, IIR table).
  #iir(): number {
    let id: number = IIR.NONE;
    if ((this.#ier & IER.RLSI) && (this.#lsr & LSR.OE)) id = IIR.RLSI;
    else if ((this.#ier & IER.RDI) && (this.#lsr & LSR.DR)) id = IIR.RDI;
    else if ((this.#ier & IER.THRI) && this.#thriPending) id = IIR.THRI;
    else if ((this.#ier & IER.MSI) && (this.#msr & 0x0f)) id = IIR.MSI;
    return id | (this.#fifoEnabled ? IIR.FIFO_ENABLED : 0);
  }

  // Edge interrupt: pulse whenever some enabled condition is pending after a state change.
  #update(): void {
    if ((this.#iir() & IIR.NONE) === 0) {
      this.interrupts++;
      this.#o.interrupt();
    }
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    data[0] = this.#readReg(offset);
  }

  #readReg(offset: number): number {
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART.DATA: {
        if (dlab) return this.#dll;
        const b = this.#pop();
        this.#update();
        return b;
      }
      case UART.IER:
        return dlab ? this.#dlm : this.#ier;
      case UART.IIR_FCR: {
        const iir = this.#iir();
        // Reading IIR while it reports THRE clears that source (datasheet).
        if ((iir & 0x0f) === IIR.THRI) this.#thriPending = false;
        return iir;
      }
      case UART.LCR:
        return this.#lcr;
      case UART.MCR:
        return this.#mcr;
      case UART.LSR: {
        const v = this.#lsr;
        this.#lsr &= ~LSR.OE;
        return v;
      }
      case UART.MSR: {
        const v = this.#msrValue();
        this.#msr &= 0xf0; // delta bits clear on read
        return v;
      }
      case UART.SCR:
        return this.#scr;
      default:
        return 0;
    }
  }

  #msrValue(): number {
    if ((this.#mcr & MCR.LOOP) === 0) return this.#msr;
    // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
    const m = this.#mcr;
    return (this.#msr & 0x0f) | ((m & MCR.RTS) ? MSR.CTS : 0) | ((m & MCR.DTR) ? MSR.DSR : 0) |
      ((m & MCR.OUT1) ? MSR.RI : 0) | ((m & MCR.OUT2) ? MSR.DCD : 0);
  }

  write(offset: number, data: Uint8Array): void {
    const v = data[0];
    const dlab = (this.#lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART.DATA:
        if (dlab) {
          this.#dll = v;
          return;
        }
        this.#transmit(v);
        return;
      case UART.IER: {
        if (dlab) {
          this.#dlm = v;
          return;
        }
        const was = this.#ier;
        this.#ier = v & 0x0f;
        // Enabling THRI with an empty THR raises it at once: Linux starts transmitting this way.
        if ((this.#ier & IER.THRI) && !(was & IER.THRI)) this.#thriPending = true;
        this.#update();
        return;
      }
      case UART.IIR_FCR:
        this.#fifoEnabled = (v & FCR.ENABLE) !== 0;
        if (v & FCR.CLEAR_RX) {
          this.#rxHead = 0;
          this.#rxLen = 0;
          this.#lsr &= ~LSR.DR;
        }
        return;
      case UART.LCR:
        this.#lcr = v;
        return;
      case UART.MCR:
        this.#mcr = v & 0x1f;
        return;
      case UART.SCR:
        this.#scr = v;
        return;
      default:
        return; // LSR and MSR are read-only
    }
  }

  #transmit(v: number): void {
    if (this.#mcr & MCR.LOOP) {
      if (this.#rxLen < RX_FIFO_SIZE) this.#push(v);
      else this.#lsr |= LSR.OE;
    } else {
      this.#byte[0] = v;
      this.bytesOut++;
      this.#o.output(this.#byte);
    }
    this.#thriPending = true;
    this.#update();
  }
}
