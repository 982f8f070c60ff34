/**
 * The keyboard behind the i8042's first port, as far as Linux's atkbd driver talks to it: it
 * acknowledges commands, answers "get ID" and "reset", keeps a 16-byte output buffer, and sends
 * the scancodes the host injects. It has no keys of its own.
 *
 * @example
 * ```ts
 * import { Ps2Keyboard } from "./ps2_keyboard.ts";
 * const kbd = new Ps2Keyboard();
 * kbd.receive(0xf2, true); // get ID
 * [kbd.read(), kbd.read(), kbd.read()]; // [0xfa, 0xab, 0x41]
 * ```
 * @module
 */

import { ByteFifo } from "./byte_fifo.ts";

/**
 * Bytes a PS/2 keyboard sends besides scancodes.
 *
 * @example
 * ```ts
 * if (kbd.read() !== PS2_REPLY.ACK) throw new Error("command refused");
 * ```
 */
export const PS2_REPLY = {
  /** Command (or parameter) accepted. */
  ACK: 0xfa,
  /** Unknown command or bad parameter: send it again. */
  RESEND: 0xfe,
  /** Basic assurance test passed, after a reset. */
  BAT_OK: 0xaa,
  /** Answer to the echo command. */
  ECHO: 0xee,
} as const;

/**
 * Commands the keyboard understands.
 *
 * @example
 * ```ts
 * kbd.receive(PS2_CMD.ENABLE, true);
 * ```
 */
export const PS2_CMD = {
  SET_LEDS: 0xed,
  ECHO: 0xee,
  SCANCODE_SET: 0xf0,
  GET_ID: 0xf2,
  SET_TYPEMATIC: 0xf3,
  ENABLE: 0xf4,
  DISABLE: 0xf5,
  SET_DEFAULTS: 0xf6,
  RESEND: 0xfe,
  RESET: 0xff,
} as const;

/** Depth of a keyboard's output buffer. */
const BUFFER_SIZE = 16;
/** An MF2 keyboard's ID; the controller's translation turns its second byte into 0x41. */
const ID = [0xab, 0x83] as const;
const ID_TRANSLATED = [0xab, 0x41] as const;
/** Scancode set numbers as the translating controller passes them on (sets 1, 2, 3). */
const SET_TRANSLATED = [0, 0x43, 0x41, 0x3f] as const;

/**
 * One PS/2 keyboard.
 *
 * @example
 * ```ts
 * const kbd = new Ps2Keyboard();
 * kbd.sendScancodes([0x1e, 0x9e]); // true: "a" pressed and released (set 1)
 * kbd.read(); // 0x1e
 * ```
 */
export class Ps2Keyboard {
  readonly #out = new ByteFifo(BUFFER_SIZE);
  /** The command whose parameter byte comes next, or 0. */
  #awaiting = 0;
  #scanning = true;
  #set = 2;
  #lastSent: number = PS2_REPLY.ACK;

  /** True while bytes wait to be read. */
  get hasData(): boolean {
    return this.#out.length > 0;
  }

  /** The scancode set the host selected (2 after reset). */
  get scancodeSet(): number {
    return this.#set;
  }

  /**
   * Takes the next byte for the controller, or -1 when there is none.
   *
   * @example
   * ```ts
   * const b = kbd.read();
   * ```
   */
  read(): number {
    return this.#out.pop();
  }

  /**
   * A byte from the host (a command or a command's parameter). `translated` says whether the
   * controller translates to set 1, which changes how IDs and set numbers reach the host.
   *
   * @example
   * ```ts
   * kbd.receive(PS2_CMD.SET_LEDS, true);
   * kbd.receive(0x02, true); // Num Lock on: ACK, ACK
   * ```
   */
  receive(byte: number, translated: boolean): void {
    // A keyboard drops whatever it had not sent yet when the host talks to it.
    this.#out.clear();
    const awaiting = this.#awaiting;
    this.#awaiting = 0;
    if (awaiting !== 0 && byte < PS2_CMD.SET_LEDS) {
      this.#parameter(awaiting, byte, translated);
      return;
    }
    switch (byte) {
      case PS2_CMD.RESET:
        this.#scanning = true;
        this.#set = 2;
        this.#send(PS2_REPLY.ACK, PS2_REPLY.BAT_OK);
        return;
      case PS2_CMD.RESEND:
        this.#send(this.#lastSent);
        return;
      case PS2_CMD.ECHO:
        this.#send(PS2_REPLY.ECHO);
        return;
      case PS2_CMD.GET_ID:
        this.#send(PS2_REPLY.ACK, ...(translated ? ID_TRANSLATED : ID));
        return;
      case PS2_CMD.ENABLE:
        this.#scanning = true;
        this.#send(PS2_REPLY.ACK);
        return;
      case PS2_CMD.DISABLE:
        this.#scanning = false;
        this.#send(PS2_REPLY.ACK);
        return;
      case PS2_CMD.SET_LEDS:
      case PS2_CMD.SET_TYPEMATIC:
      case PS2_CMD.SCANCODE_SET:
        this.#awaiting = byte;
        this.#send(PS2_REPLY.ACK);
        return;
      default:
        // 0xf6-0xfd: defaults and the set-3 key type commands, all harmless to acknowledge.
        this.#send(byte >= PS2_CMD.SET_DEFAULTS ? PS2_REPLY.ACK : PS2_REPLY.RESEND);
    }
  }

  #parameter(command: number, value: number, translated: boolean): void {
    if (command !== PS2_CMD.SCANCODE_SET) {
      this.#send(PS2_REPLY.ACK); // LED state, typematic rate: nothing to show or repeat
    } else if (value === 0) {
      this.#send(PS2_REPLY.ACK, translated ? SET_TRANSLATED[this.#set] : this.#set);
    } else if (value <= 3) {
      this.#set = value;
      this.#send(PS2_REPLY.ACK);
    } else {
      this.#send(PS2_REPLY.RESEND);
    }
  }

  /**
   * Queues key events (scancodes exactly as the host should read them), all or nothing: false
   * when scanning is disabled or the buffer lacks room.
   *
   * @example
   * ```ts
   * kbd.sendScancodes([0x1d, 0x9d]); // Ctrl press and release, set 1
   * ```
   */
  sendScancodes(codes: ArrayLike<number>): boolean {
    if (!this.#scanning || this.#out.free < codes.length) return false;
    this.#out.pushFrom(codes);
    return true;
  }

  #send(...bytes: number[]): void {
    for (const b of bytes) this.#out.push(b);
    this.#lastSent = bytes[bytes.length - 1];
  }
}
