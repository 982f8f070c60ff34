/**
 * Just enough of the i8042 keyboard controller: Linux's `reboot=k` writes 0xFE (pulse the reset
 * line) to the command port, which ends the VM; the status register says "no data, ready for
 * commands" so the kernel's probe finds no keyboard and moves on. `sendCtrlAltDel` queues the
 * scancodes of Ctrl-Alt-Del for guests that have a keyboard driver (the default guest has none).
 *
 * @module
 */

import type { BusDevice } from "../bus.ts";

/** Offsets from port 0x60 (the device is registered over 0x60..0x64). */
export const I8042_REG = { DATA: 0, COMMAND: 4 } as const;
/** Command: pulse the CPU reset line. */
export const I8042_CMD_RESET = 0xfe;
/** Status: output buffer full. */
const STATUS_OBF = 1;
/** Status: system flag (self-test passed). */
const STATUS_SYS = 4;
/** Scancode set 1 make/break codes of Ctrl, Alt, Delete (Delete is an extended key). */
const CTRL_ALT_DEL = [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d];

/** Options of {@link I8042}. */
export interface I8042Options {
  /** The guest asked for a reset. */
  onReset: () => void;
  /** Pulses IRQ 1 (keyboard). */
  interrupt?: () => void;
}

/**
 * The i8042 subset.
 *
 * @example
 * ```ts
 * pio.insert(0x60, 5, new I8042({ onReset: () => vm.stop() }), "i8042");
 * ```
 */
export class I8042 implements BusDevice {
  readonly #o: I8042Options;
  readonly #out: number[] = [];

  /** @example `new I8042({ onReset })` */
  constructor(o: I8042Options) {
    this.#o = o;
  }

  /** Queues Ctrl-Alt-Del for the guest keyboard driver and raises IRQ 1. */
  sendCtrlAltDel(): void {
    this.#out.push(...CTRL_ALT_DEL);
    this.#o.interrupt?.();
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === I8042_REG.COMMAND) {
      data[0] = STATUS_SYS | (this.#out.length > 0 ? STATUS_OBF : 0);
    } else if (offset === I8042_REG.DATA) {
      data[0] = this.#out.shift() ?? 0;
      if (this.#out.length > 0) this.#o.interrupt?.();
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (offset === I8042_REG.COMMAND && data[0] === I8042_CMD_RESET) this.#o.onReset();
  }
}
