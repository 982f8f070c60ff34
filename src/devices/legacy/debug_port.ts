/**
 * Port 0x80, where firmware writes power-on self-test (POST) codes and where Linux's `outb_p`
 * writes a byte just to wait an I/O cycle. Nothing is attached: writes are dropped silently
 * (keeping the last code, which helps when a guest stops early) and reads float high.
 *
 * @example
 * ```ts
 * import { DebugPort, DEBUG_PORT } from "./debug_port.ts";
 * pio.insert(DEBUG_PORT, 1, new DebugPort(), "post");
 * ```
 * @module
 */

import type { BusDevice } from "../bus.ts";

/**
 * The POST code port.
 *
 * @example
 * ```ts
 * pio.insert(DEBUG_PORT, 1, debugPort, "post");
 * ```
 */
export const DEBUG_PORT = 0x80;

/**
 * The POST code sink.
 *
 * @example
 * ```ts
 * const post = new DebugPort();
 * post.write(0, new Uint8Array([0x42]));
 * post.lastCode; // 0x42
 * ```
 */
export class DebugPort implements BusDevice {
  /** The last byte written (0 before any). */
  lastCode = 0;
  /** How many writes arrived. */
  writes = 0;

  /**
   * Reads float high, as on a bus with nothing driving it.
   *
   * @example
   * ```ts
   * post.read(0, data); // data[0] === 0xff
   * ```
   */
  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  /**
   * Keeps the code and otherwise ignores it.
   *
   * @example
   * ```ts
   * post.write(0, new Uint8Array([0x00])); // Linux's I/O delay
   * ```
   */
  write(_offset: number, data: Uint8Array): void {
    this.lastCode = data[0];
    this.writes++;
  }
}
