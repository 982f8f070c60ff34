/**
 * Register offsets and bit values of the 16550A UART, named as in its datasheet (and in Linux's
 * `include/uapi/linux/serial_reg.h`), for the UART model and its tests.
 *
 * @example
 * ```ts
 * import { LSR, UART } from "./uart_regs.ts";
 * const lsrPort = 0x3f8 + UART.LSR; // 0x3fd
 * const ready = (lsr: number) => (lsr & LSR.THRE) !== 0;
 * ```
 * @module
 */

/**
 * Register offsets from the UART's base port. Three offsets have two registers, chosen by the
 * access direction (RBR/THR, IIR/FCR) or by LCR's DLAB bit (RBR/THR vs DLL, IER vs DLM).
 *
 * @example
 * ```ts
 * pio.read(0x3f8 + UART.LSR, data);
 * ```
 */
export const UART = {
  /** RBR (read) / THR (write); DLL, the divisor's low byte, when DLAB is set. */
  DATA: 0,
  /** IER; DLM, the divisor's high byte, when DLAB is set. */
  IER: 1,
  /** IIR (read) / FCR (write). */
  IIR_FCR: 2,
  /** Line control: word length, parity, stop bits, break, DLAB. */
  LCR: 3,
  /** Modem control: DTR, RTS, OUT1, OUT2, loopback. */
  MCR: 4,
  /** Line status (read only). */
  LSR: 5,
  /** Modem status (read only). */
  MSR: 6,
  /** Scratch: 8 bits of storage with no effect. */
  SCR: 7,
} as const;

/**
 * IER bits: which conditions may interrupt.
 *
 * @example
 * ```ts
 * w(UART.IER, IER.RDI | IER.THRI);
 * ```
 */
export const IER = {
  /** Received data available. */
  RDI: 0x01,
  /** Transmitter holding register empty. */
  THRI: 0x02,
  /** Receiver line status (overrun, parity, framing, break). */
  RLSI: 0x04,
  /** Modem status change. */
  MSI: 0x08,
} as const;

/**
 * IIR values: bit 0 set means nothing pending; bits 1-3 name the highest-priority pending source;
 * bits 6-7 are set while the FIFOs are enabled (how software tells a 16550A from a 16450).
 *
 * @example
 * ```ts
 * const pending = (iir: number) => (iir & IIR.NO_INT) === 0;
 * const source = (iir: number) => iir & IIR.ID_MASK; // IIR.RDI, IIR.THRI...
 * ```
 */
export const IIR = {
  NO_INT: 0x01,
  /** Mask of the source bits. */
  ID_MASK: 0x0e,
  /** Modem status (lowest priority). */
  MSI: 0x00,
  /** Transmitter holding register empty. */
  THRI: 0x02,
  /** Received data available. */
  RDI: 0x04,
  /** Receiver line status (highest priority). */
  RLSI: 0x06,
  /** Both bits set: FIFOs enabled. */
  FIFO_ENABLED: 0xc0,
} as const;

/**
 * FCR bits.
 *
 * @example
 * ```ts
 * w(UART.IIR_FCR, FCR.ENABLE | FCR.CLEAR_RX | FCR.CLEAR_TX);
 * ```
 */
export const FCR = {
  /** Enable both FIFOs (16550A mode); clearing it drops their contents. */
  ENABLE: 0x01,
  /** Empty the receive FIFO. */
  CLEAR_RX: 0x02,
  /** Empty the transmit FIFO. */
  CLEAR_TX: 0x04,
} as const;

/**
 * LCR bit 7, the divisor latch access bit: offsets 0 and 1 become the baud divisor.
 *
 * @example
 * ```ts
 * w(UART.LCR, LCR_DLAB | 0x03); // then write DLL/DLM
 * ```
 */
export const LCR_DLAB = 0x80;

/**
 * MCR bits (bits 5-7 always read 0).
 *
 * @example
 * ```ts
 * w(UART.MCR, MCR.DTR | MCR.RTS | MCR.OUT2); // what Linux sets on open
 * ```
 */
export const MCR = {
  DTR: 0x01,
  RTS: 0x02,
  OUT1: 0x04,
  /** On a PC, gates the UART's interrupt output onto the IRQ line. */
  OUT2: 0x08,
  /** Loopback: the transmitter feeds the receiver and MCR drives the modem inputs. */
  LOOP: 0x10,
} as const;

/**
 * LSR bits.
 *
 * @example
 * ```ts
 * while (r(UART.LSR) & LSR.DR) bytes.push(r(UART.DATA));
 * ```
 */
export const LSR = {
  /** Data ready: the receive FIFO is not empty. */
  DR: 0x01,
  /** Overrun: a byte arrived with the receive FIFO full and was lost. Cleared by reading LSR. */
  OE: 0x02,
  /** Transmitter holding register empty. */
  THRE: 0x20,
  /** Transmitter empty (holding and shift registers). */
  TEMT: 0x40,
} as const;

/**
 * MSR bits: the low nibble says which modem input changed since the last MSR read, the high
 * nibble is the inputs' current state.
 *
 * @example
 * ```ts
 * const carrier = (msr: number) => (msr & MSR.DCD) !== 0;
 * ```
 */
export const MSR = {
  /** CTS changed. */
  DCTS: 0x01,
  /** DSR changed. */
  DDSR: 0x02,
  /** RI went from on to off. */
  TERI: 0x04,
  /** DCD changed. */
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;
