/**
 * Port offsets, commands and register bits of the i8042 keyboard controller, named after Linux's
 * `drivers/input/serio/i8042.h`, for the controller model and its tests.
 *
 * @example
 * ```ts
 * import { I8042_CMD, I8042_REG } from "./i8042_regs.ts";
 * pio.write(0x60 + I8042_REG.COMMAND, new Uint8Array([I8042_CMD.RESET]));
 * ```
 * @module
 */

/**
 * Offsets of the controller's two ports from port 0x60.
 *
 * @example
 * ```ts
 * i8042.write(I8042_REG.COMMAND, new Uint8Array([I8042_CMD.RESET]));
 * ```
 */
export const I8042_REG = {
  /** Port 0x60: data in both directions. */
  DATA: 0,
  /** Port 0x64: status (read), command (write). */
  COMMAND: 4,
} as const;

/**
 * Controller commands written to port 0x64.
 *
 * @example
 * ```ts
 * w(I8042_REG.COMMAND, I8042_CMD.READ_CTR); // then read the CTR from the data port
 * ```
 */
export const I8042_CMD = {
  READ_CTR: 0x20,
  /** The next data byte is the new CTR. */
  WRITE_CTR: 0x60,
  AUX_DISABLE: 0xa7,
  AUX_ENABLE: 0xa8,
  AUX_TEST: 0xa9,
  SELF_TEST: 0xaa,
  KBD_TEST: 0xab,
  KBD_DISABLE: 0xad,
  KBD_ENABLE: 0xae,
  READ_OUTPUT_PORT: 0xd0,
  /** The next data byte is the new output port; bit 0 clear holds the CPU in reset. */
  WRITE_OUTPUT_PORT: 0xd1,
  /** The next data byte comes back as if the keyboard had sent it. */
  WRITE_KBD_OUTPUT: 0xd2,
  /** The next data byte comes back as if the aux device had sent it. */
  AUX_LOOP: 0xd3,
  /** The next data byte goes to the aux device. */
  AUX_SEND: 0xd4,
  /** Pulse the CPU reset line. */
  RESET: 0xfe,
} as const;

/**
 * Status register bits (port 0x64, read).
 *
 * @example
 * ```ts
 * while (r(I8042_REG.COMMAND) & I8042_STATUS.OBF) codes.push(r(I8042_REG.DATA));
 * ```
 */
export const I8042_STATUS = {
  /** Output buffer full: the data port has a byte for the host. */
  OBF: 0x01,
  /** Input buffer full: the controller is busy with the last write (never, here). */
  IBF: 0x02,
  /** System flag, copied from the CTR. */
  SYS: 0x04,
  /** The last write went to the command port. */
  CMD: 0x08,
  /** Set while the keyboard is not inhibited by a key lock. */
  KEYLOCK: 0x10,
  /** The output byte came from the aux port. */
  AUXDATA: 0x20,
} as const;

/**
 * Controller configuration byte (CTR) bits.
 *
 * @example
 * ```ts
 * const xlate = (ctr: number) => (ctr & I8042_CTR.XLATE) !== 0;
 * ```
 */
export const I8042_CTR = {
  /** Raise IRQ 1 when keyboard data is available. */
  KBDINT: 0x01,
  AUXINT: 0x02,
  SYS: 0x04,
  /** Keyboard interface disabled (its bytes wait in the keyboard). */
  KBDDIS: 0x10,
  AUXDIS: 0x20,
  /** Translate the keyboard's set 2 scancodes to set 1. */
  XLATE: 0x40,
} as const;
