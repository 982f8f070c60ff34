/**
 * Test helpers for the UART: a harness with register accessors, and replays of what Linux 6.1's
 * 8250 driver does to a port (probe, open, interrupt handling), written from reading
 * `drivers/tty/serial/8250/8250_port.c` and `8250_core.c`, so the tests check the UART against
 * the driver that will actually use it.
 *
 * @example
 * ```ts
 * import { linuxAutoconfig, uartHarness } from "./serial_test_support.ts";
 * const h = uartHarness();
 * linuxAutoconfig(h); // "16550A"
 * ```
 * @module
 */

import { Serial, type SerialOptions } from "./serial.ts";
import { IER, IIR, LSR, MCR, UART } from "./uart_regs.ts";

/**
 * A UART wired to recorders, with one-byte register accessors.
 *
 * @example
 * ```ts
 * const { r, w, out } = uartHarness();
 * w(UART.DATA, 0x41); // out: [0x41]
 * ```
 */
export interface UartHarness {
  serial: Serial;
  /** Every byte passed to the output callback. */
  out: number[];
  /** IRQ pulses so far. */
  irqs: { count: number };
  r(offset: number): number;
  w(offset: number, value: number): void;
}

/**
 * Builds a {@link UartHarness}; `onIrq` runs on each pulse (a simulated CPU taking it).
 *
 * @example
 * ```ts
 * const h = uartHarness({ onRxSpace: () => spaces++ });
 * ```
 */
export function uartHarness(
  extra: Partial<SerialOptions> & { onIrq?: () => void } = {},
): UartHarness {
  const out: number[] = [];
  const irqs = { count: 0 };
  const serial = new Serial({
    output: (b) => out.push(...b),
    interrupt: () => {
      irqs.count++;
      extra.onIrq?.();
    },
    onRxSpace: extra.onRxSpace,
  });
  const one = new Uint8Array(1);
  return {
    serial,
    out,
    irqs,
    r: (offset) => {
      serial.read(offset, one);
      return one[0];
    },
    w: (offset, value) => {
      one[0] = value;
      serial.write(offset, one);
    },
  };
}

type Regs = Pick<UartHarness, "r" | "w">;

/** LCR values Linux uses to reach the enhanced registers of other chips. */
const CONF_MODE_A = 0x80;
const CONF_MODE_B = 0xbf;
const NATSEMI_BANK2 = 0xe0;
/** FCR bit 5: 64-byte FIFO on a TI 16750. */
const FCR7_64BYTE = 0x20;
/** IER bit 6: UART unit enable on XScale UARTs. */
const IER_UUE = 0x40;

/**
 * Replays Linux's `autoconfig()` (with `autoconfig_16550a()`'s variant probes when `full`, as
 * with `CONFIG_SERIAL_8250_16550A_VARIANTS`) and returns the port type it would choose.
 *
 * @example
 * ```ts
 * assert.equal(linuxAutoconfig(uartHarness()), "16550A");
 * ```
 */
export function linuxAutoconfig({ r, w }: Regs, full = true): string {
  // Existence: IER's low nibble must hold 0 and 0x0f.
  const savedIer = r(UART.IER);
  w(UART.IER, 0);
  const ier0 = r(UART.IER) & 0x0f;
  w(UART.IER, 0x0f);
  const ier1 = r(UART.IER) & 0x0f;
  w(UART.IER, savedIer);
  if (ier0 !== 0 || ier1 !== 0x0f) return "none (IER test)";

  const savedMcr = r(UART.MCR);
  const savedLcr = r(UART.LCR);
  // Loopback: MCR = LOOP | OUT2 | RTS must show DCD | CTS in MSR.
  w(UART.MCR, MCR.LOOP | 0x0a);
  const lines = r(UART.MSR) & 0xf0;
  w(UART.MCR, savedMcr);
  if (lines !== 0x90) return "none (loopback test)";

  w(UART.LCR, CONF_MODE_B);
  w(UART.IIR_FCR, 0); // "EFR" on enhanced chips, FCR here
  w(UART.LCR, 0);
  w(UART.IIR_FCR, 0x01);
  const iir = r(UART.IIR_FCR);
  let type: string;
  switch (iir >> 6) {
    case 0:
      type = "8250/16450";
      break;
    case 1:
      type = "unknown";
      break;
    case 2:
      type = "16550 (broken FIFO)";
      break;
    default:
      type = full ? variantOf16550a({ r, w }) : "16550A";
  }
  w(UART.LCR, savedLcr);
  // Reset the port as the driver leaves it.
  w(UART.MCR, savedMcr);
  w(UART.IIR_FCR, 0x01);
  w(UART.IIR_FCR, 0x07);
  w(UART.IIR_FCR, 0);
  r(UART.DATA);
  w(UART.IER, 0);
  return type;
}

function variantOf16550a({ r, w }: Regs): string {
  w(UART.LCR, CONF_MODE_A);
  if (r(UART.IIR_FCR) === 0) return "16650 (EFR at DLAB)";
  w(UART.LCR, CONF_MODE_B);
  if (r(UART.IIR_FCR) === 0) return "16650V2 (EFR at 0xbf)";

  // National Semiconductor: bank 2's EXCR1 mirrors MCR's loop bit.
  w(UART.LCR, 0);
  const mcr = r(UART.MCR);
  w(UART.LCR, NATSEMI_BANK2);
  let excr1 = r(UART.IIR_FCR);
  if (!((excr1 ^ mcr) & MCR.LOOP)) {
    w(UART.LCR, 0);
    w(UART.MCR, mcr ^ MCR.LOOP);
    w(UART.LCR, NATSEMI_BANK2);
    excr1 = r(UART.IIR_FCR);
    w(UART.LCR, 0);
    w(UART.MCR, mcr);
    if ((excr1 ^ mcr) & MCR.LOOP) return "NS16550A";
  }

  // TI 16750: IIR bit 5 follows the 64-byte FIFO bit only with DLAB set.
  w(UART.LCR, 0);
  w(UART.IIR_FCR, 0x01 | FCR7_64BYTE);
  const plain = r(UART.IIR_FCR) >> 5;
  w(UART.IIR_FCR, 0x01);
  w(UART.LCR, CONF_MODE_A);
  w(UART.IIR_FCR, 0x01 | FCR7_64BYTE);
  const dlab = r(UART.IIR_FCR) >> 5;
  w(UART.IIR_FCR, 0x01);
  w(UART.LCR, 0);
  if (plain === 6 && dlab === 7) return "16750";

  // XScale: IER bit 6 holds a 1.
  const ier = r(UART.IER);
  w(UART.IER, ier & ~IER_UUE);
  if (!(r(UART.IER) & IER_UUE)) {
    w(UART.IER, ier | IER_UUE);
    if (r(UART.IER) & IER_UUE) return "XScale";
  }
  w(UART.IER, ier);

  return fifoSize({ r, w }) === 64 ? "U6_16550A" : "16550A";
}

/**
 * Linux's `size_fifo()`: bytes the receive FIFO holds in loopback.
 *
 * @example
 * ```ts
 * fifoSize(uartHarness()); // 16
 * ```
 */
export function fifoSize({ r, w }: Regs): number {
  const oldLcr = r(UART.LCR);
  w(UART.LCR, 0);
  const oldFcr = r(UART.IIR_FCR);
  const oldMcr = r(UART.MCR);
  w(UART.IIR_FCR, 0x07);
  w(UART.MCR, MCR.LOOP);
  w(UART.LCR, CONF_MODE_A);
  const oldDivisor = r(UART.DATA) | (r(UART.IER) << 8);
  w(UART.DATA, 1);
  w(UART.IER, 0);
  w(UART.LCR, 0x03);
  for (let i = 0; i < 256; i++) w(UART.DATA, i);
  let count = 0;
  while (r(UART.LSR) & LSR.DR && count < 256) {
    r(UART.DATA);
    count++;
  }
  w(UART.IIR_FCR, oldFcr);
  w(UART.MCR, oldMcr);
  w(UART.LCR, CONF_MODE_A);
  w(UART.DATA, oldDivisor & 0xff);
  w(UART.IER, oldDivisor >> 8);
  w(UART.LCR, oldLcr);
  return count;
}

/**
 * Replays the register traffic of Linux's `serial8250_do_startup()` and `set_termios()` when
 * the tty is opened, and returns the workarounds the driver would switch on (both should stay
 * off for a correct 16550A). Leaves the port open: OUT2 set, FIFO on, RDI and RLSI enabled.
 *
 * @example
 * ```ts
 * linuxStartup(uartHarness()); // { bugThre: false, bugTxen: false, lsrSafety: false }
 * ```
 */
export function linuxStartup({ r, w }: Regs): {
  bugThre: boolean;
  bugTxen: boolean;
  lsrSafety: boolean;
} {
  w(UART.IIR_FCR, 0x01);
  w(UART.IIR_FCR, 0x07);
  w(UART.IIR_FCR, 0);
  r(UART.LSR);
  r(UART.DATA);
  r(UART.IIR_FCR);
  r(UART.MSR);
  const lsrSafety = r(UART.LSR) === 0xff;

  // Does THRE's interrupt come back when THRI is enabled again?
  w(UART.IER, IER.THRI);
  const iir1 = r(UART.IIR_FCR);
  w(UART.IER, 0);
  w(UART.IER, IER.THRI);
  const iir2 = r(UART.IIR_FCR);
  w(UART.IER, 0);
  const bugThre = !(iir1 & IIR.NO_INT) && (iir2 & IIR.NO_INT) !== 0;

  w(UART.LCR, 0x03);
  w(UART.MCR, MCR.DTR | MCR.RTS | MCR.OUT2);

  // Does enabling THRI with an idle transmitter raise an interrupt at once?
  w(UART.IER, IER.THRI);
  const lsr = r(UART.LSR);
  const iir = r(UART.IIR_FCR);
  w(UART.IER, 0);
  const bugTxen = (lsr & LSR.TEMT) !== 0 && (iir & IIR.NO_INT) !== 0;

  r(UART.LSR);
  r(UART.DATA);
  r(UART.IIR_FCR);
  r(UART.MSR);

  // set_termios: 115200 8N1, FIFO with an 8-byte trigger.
  w(UART.LCR, 0x83);
  w(UART.DATA, 1);
  w(UART.IER, 0);
  w(UART.LCR, 0x03);
  w(UART.IIR_FCR, 0x01);
  w(UART.IIR_FCR, 0x81);
  w(UART.IER, IER.RLSI | IER.RDI);
  return { bugThre, bugTxen, lsrSafety };
}

/**
 * The interrupt-driven half of Linux's 8250 driver, for an opened port: a transmit queue that
 * `serial8250_start_tx()` kicks by setting THRI, and the handler of `8250_core.c`, which handles
 * the port until IIR reads "no interrupt" (that is what makes an edge-triggered ISA IRQ work).
 *
 * @example
 * ```ts
 * const drv = new LinuxDriver(h);
 * drv.write("hello\n");
 * drv.runPendingIrqs();
 * ```
 */
export class LinuxDriver {
  /** Bytes the driver read from RBR. */
  readonly received: number[] = [];
  /** Handler runs that found nothing to do (IRQ_NONE). */
  spurious = 0;
  /** Handler runs. */
  runs = 0;
  readonly #regs: Regs;
  readonly #xmit: number[] = [];
  #ier = IER.RLSI | IER.RDI;
  #irqPending = false;

  /**
   * Drives an already opened port (see {@link linuxStartup}).
   *
   * @example
   * ```ts
   * const h = uartHarness({ onIrq: () => drv.raise() });
   * ```
   */
  constructor(regs: Regs) {
    this.#regs = regs;
  }

  /** The IRQ line pulsed: latch it, as the interrupt controller does. */
  raise(): void {
    this.#irqPending = true;
  }

  /** Queues text and starts the transmitter the way the driver does. */
  write(text: string): void {
    for (const b of new TextEncoder().encode(text)) this.#xmit.push(b);
    if (!(this.#ier & IER.THRI)) {
      this.#ier |= IER.THRI;
      this.#regs.w(UART.IER, this.#ier);
    }
  }

  /** Runs the handler while an IRQ is latched (the CPU taking interrupts); returns the count. */
  runPendingIrqs(limit = 1000): number {
    let n = 0;
    while (this.#irqPending && n < limit) {
      this.#irqPending = false;
      n++;
      this.#interrupt();
    }
    return n;
  }

  /** True while bytes wait to be written to THR. */
  get transmitting(): boolean {
    return this.#xmit.length > 0;
  }

  #interrupt(): void {
    this.runs++;
    let handled = false;
    for (let pass = 0; pass < 512; pass++) {
      if (!this.#handlePort()) break;
      handled = true;
    }
    if (!handled) this.spurious++;
  }

  #handlePort(): boolean {
    const { r, w } = this.#regs;
    const iir = r(UART.IIR_FCR);
    if (iir & IIR.NO_INT) return false;
    let lsr = r(UART.LSR);
    for (let max = 256; lsr & LSR.DR && max > 0; max--) {
      this.received.push(r(UART.DATA));
      lsr = r(UART.LSR);
    }
    r(UART.MSR);
    if (lsr & LSR.THRE && this.#ier & IER.THRI) {
      for (let i = 0; i < 16 && this.#xmit.length > 0; i++) w(UART.DATA, this.#xmit.shift()!);
      if (this.#xmit.length === 0) {
        this.#ier &= ~IER.THRI;
        w(UART.IER, this.#ier);
      }
    }
    return true;
  }
}
