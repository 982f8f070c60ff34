/**
 * The i8042 keyboard controller, enough for three jobs:
 *
 * - Linux's `reboot=k` writes command 0xFE (pulse the reset line) to port 0x64: `onReset` ends
 *   the VM. Writing the output port with bit 0 clear (command 0xD1) does the same.
 * - A probing kernel must not be confused: when idle, the status register says "output buffer
 *   empty, input buffer empty, not inhibited", the data port reads 0, and the controller commands
 *   Linux's i8042 driver issues get their answers (read/write CTR, self tests). There is no aux
 *   (mouse) port: the aux loopback and aux test commands answer so that Linux gives up on it at
 *   once instead of after timeouts.
 * - {@link I8042.sendCtrlAltDel} makes the keyboard send Ctrl-Alt-Del with IRQ 1. A guest sees it
 *   only with the i8042 and AT keyboard drivers (`CONFIG_SERIO_I8042`, `CONFIG_KEYBOARD_ATKBD`);
 *   denovmm's default guest kernel has both.
 *
 * @example
 * ```ts
 * import { I8042 } from "./i8042.ts";
 * const i8042 = new I8042({ onReset: () => vm.stop(), interrupt: () => pulseIrq(1) });
 * ```
 * @module
 */

import type { BusDevice } from "../bus.ts";
import { I8042_CMD, I8042_CTR, I8042_REG, I8042_STATUS } from "./i8042_regs.ts";
import { Ps2Keyboard } from "./ps2_keyboard.ts";

/**
 * Ctrl, Alt and Delete pressed then released, as the host reads them from a translating
 * controller (set 1; Delete is an extended key, hence 0xe0).
 *
 * @example
 * ```ts
 * CTRL_ALT_DEL_SET1.length; // 8
 * ```
 */
export const CTRL_ALT_DEL_SET1: readonly number[] = [
  0x1d,
  0x38,
  0xe0,
  0x53,
  0xe0,
  0xd3,
  0xb8,
  0x9d,
];

/**
 * The same keys in set 2, for a controller whose translation the guest turned off.
 *
 * @example
 * ```ts
 * CTRL_ALT_DEL_SET2[0]; // 0x14, left Ctrl
 * ```
 */
export const CTRL_ALT_DEL_SET2: readonly number[] = [
  0x14,
  0x11,
  0xe0,
  0x71,
  0xe0,
  0xf0,
  0x71,
  0xf0,
  0x11,
  0xf0,
  0x14,
];

/** What a PC BIOS leaves in the CTR: keyboard interrupt on, translation on, no aux port. */
const CTR_AT_BOOT = I8042_CTR.KBDINT | I8042_CTR.SYS | I8042_CTR.AUXDIS | I8042_CTR.XLATE;
/** Output port: reset line inactive (bit 0), A20 enabled (bit 1). */
const OUTPUT_PORT_AT_BOOT = 0x03;
/** Aux interface test result "clock line stuck high": nothing is attached. */
const AUX_TEST_NO_DEVICE = 0x02;
/** Aux loopback answer: not the byte sent, so the loop test fails without a timeout. */
const AUX_LOOP_NO_PORT = 0xff;

/**
 * Options of {@link I8042}.
 *
 * @example
 * ```ts
 * const opts: I8042Options = { onReset: () => machine.stop(), interrupt: () => pulseIrq(1) };
 * ```
 */
export interface I8042Options {
  /** The guest pulsed the CPU reset line (`reboot=k`). */
  onReset: () => void;
  /** Pulses IRQ 1 (an edge): a byte from the keyboard or the controller is ready. */
  interrupt?: () => void;
}

/**
 * The controller with its keyboard. As a {@link BusDevice} it answers at offsets 0 (port 0x60)
 * and 4 (port 0x64); other offsets read 0xff and ignore writes.
 *
 * @example
 * ```ts
 * const i8042 = new I8042({ onReset: () => vm.stop() });
 * pio.insert(0x60, 1, i8042, "i8042-data");
 * pio.insert(0x64, 1, offsetDevice(i8042, 4), "i8042-command");
 * ```
 */
export class I8042 implements BusDevice {
  readonly #o: I8042Options;
  readonly #kbd = new Ps2Keyboard();
  #ctr = CTR_AT_BOOT;
  #outputPort = OUTPUT_PORT_AT_BOOT;
  /** A controller command's answer, which goes out before keyboard bytes; -1 when none. */
  #reply = -1;
  #replyFromAux = false;
  /** The command whose data byte the next data-port write is, or 0. */
  #awaiting = 0;
  #lastWriteWasCommand = false;
  #irqLevel = false;

  /**
   * A controller as the BIOS leaves it.
   *
   * @example
   * ```ts
   * new I8042({ onReset: () => console.log("guest reset") });
   * ```
   */
  constructor(options: I8042Options) {
    this.#o = options;
  }

  /**
   * Has the keyboard send Ctrl-Alt-Del (press and release) and raises IRQ 1 if the guest
   * enabled it. Returns false when the keyboard cannot take it: scanning disabled by the guest,
   * or its buffer still holds an earlier sequence nobody read (as with a guest without a
   * keyboard driver). The codes are set 1 when the controller translates (Linux's default) or
   * the guest chose set 1, set 2 otherwise; set 3 is not supported.
   *
   * @example
   * ```ts
   * if (!machine.i8042.sendCtrlAltDel()) console.warn("the guest is not reading its keyboard");
   * ```
   */
  sendCtrlAltDel(): boolean {
    const set1 = (this.#ctr & I8042_CTR.XLATE) !== 0 || this.#kbd.scancodeSet === 1;
    const sent = this.#kbd.sendScancodes(set1 ? CTRL_ALT_DEL_SET1 : CTRL_ALT_DEL_SET2);
    this.#updateIrq();
    return sent;
  }

  /**
   * A guest read: offset 0 takes the next output byte (0 when there is none), offset 4 reads
   * the status register.
   *
   * @example
   * ```ts
   * const d = new Uint8Array(1);
   * i8042.read(4, d); // 0x14: idle
   * ```
   */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === I8042_REG.DATA) data[0] = this.#readData();
    else if (offset === I8042_REG.COMMAND) data[0] = this.#status();
    else data[0] = 0xff;
  }

  /**
   * A guest write: offset 0 is data (a command's parameter, or a byte for the keyboard), offset
   * 4 a controller command.
   *
   * @example
   * ```ts
   * i8042.write(4, new Uint8Array([0xfe])); // onReset()
   * ```
   */
  write(offset: number, data: Uint8Array): void {
    if (offset === I8042_REG.DATA) this.#writeData(data[0]);
    else if (offset === I8042_REG.COMMAND) this.#command(data[0]);
  }

  #keyboardVisible(): boolean {
    return (this.#ctr & I8042_CTR.KBDDIS) === 0 && this.#kbd.hasData;
  }

  #status(): number {
    const full = this.#reply >= 0 || this.#keyboardVisible();
    return (full ? I8042_STATUS.OBF : 0) |
      (this.#reply >= 0 && this.#replyFromAux ? I8042_STATUS.AUXDATA : 0) |
      (this.#ctr & I8042_CTR.SYS ? I8042_STATUS.SYS : 0) |
      (this.#lastWriteWasCommand ? I8042_STATUS.CMD : 0) |
      I8042_STATUS.KEYLOCK;
  }

  #readData(): number {
    let b = this.#reply;
    if (b >= 0) this.#reply = -1;
    else if (this.#keyboardVisible()) b = this.#kbd.read();
    // Reading empties the output buffer; a byte loaded behind it is a new edge on IRQ 1.
    this.#irqLevel = false;
    this.#updateIrq();
    return b < 0 ? 0 : b;
  }

  #answer(byte: number, fromAux = false): void {
    this.#reply = byte;
    this.#replyFromAux = fromAux;
  }

  #command(cmd: number): void {
    this.#lastWriteWasCommand = true;
    this.#awaiting = 0;
    switch (cmd) {
      case I8042_CMD.READ_CTR:
        this.#answer(this.#ctr);
        break;
      case I8042_CMD.WRITE_CTR:
      case I8042_CMD.WRITE_OUTPUT_PORT:
      case I8042_CMD.WRITE_KBD_OUTPUT:
      case I8042_CMD.AUX_LOOP:
      case I8042_CMD.AUX_SEND:
        this.#awaiting = cmd;
        break;
      case I8042_CMD.AUX_DISABLE:
        this.#ctr |= I8042_CTR.AUXDIS;
        break;
      case I8042_CMD.AUX_ENABLE:
        this.#ctr &= ~I8042_CTR.AUXDIS;
        break;
      case I8042_CMD.AUX_TEST:
        this.#answer(AUX_TEST_NO_DEVICE);
        break;
      case I8042_CMD.SELF_TEST:
        this.#answer(0x55);
        break;
      case I8042_CMD.KBD_TEST:
        this.#answer(0x00);
        break;
      case I8042_CMD.KBD_DISABLE:
        this.#ctr |= I8042_CTR.KBDDIS;
        break;
      case I8042_CMD.KBD_ENABLE:
        this.#ctr &= ~I8042_CTR.KBDDIS;
        break;
      case I8042_CMD.READ_OUTPUT_PORT:
        this.#answer(this.#outputPort);
        break;
      default:
        // 0xf0-0xff pulse output port lines for a moment; bit 0 clear means the reset line.
        if (cmd >= 0xf0 && (cmd & 1) === 0) {
          this.#o.onReset();
          return;
        }
        // The rest of the controller's RAM: reads as 0, writes take (and drop) a data byte.
        if (cmd > I8042_CMD.READ_CTR && cmd < 0x40) this.#answer(0);
        else if (cmd > I8042_CMD.WRITE_CTR && cmd < 0x80) this.#awaiting = cmd;
        // Anything else (vendor commands, password, input port) is ignored.
    }
    this.#updateIrq();
  }

  #writeData(v: number): void {
    this.#lastWriteWasCommand = false;
    const cmd = this.#awaiting;
    this.#awaiting = 0;
    switch (cmd) {
      case I8042_CMD.WRITE_CTR:
        this.#ctr = v;
        break;
      case I8042_CMD.WRITE_OUTPUT_PORT:
        this.#outputPort = v;
        if ((v & 1) === 0) {
          this.#o.onReset();
          return;
        }
        break;
      case I8042_CMD.WRITE_KBD_OUTPUT:
        this.#answer(v);
        break;
      case I8042_CMD.AUX_LOOP:
        this.#answer(AUX_LOOP_NO_PORT, true);
        break;
      case I8042_CMD.AUX_SEND:
        break; // no aux device to send it to
      case 0:
        this.#kbd.receive(v, (this.#ctr & I8042_CTR.XLATE) !== 0);
        break;
      default:
        break; // controller RAM other than the CTR
    }
    this.#updateIrq();
  }

  /** IRQ 1 follows "output buffer full with a non-aux byte, and KBDINT"; pulse on its rise. */
  #updateIrq(): void {
    const full = this.#reply >= 0 ? !this.#replyFromAux : this.#keyboardVisible();
    const level = full && (this.#ctr & I8042_CTR.KBDINT) !== 0;
    if (level && !this.#irqLevel) this.#o.interrupt?.();
    this.#irqLevel = level;
  }
}
