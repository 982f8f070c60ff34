/**
 * A stand-in for I/O ports a PC kernel probes where this machine has nothing: reads float high
 * (all ones, what an ISA bus returns with no card answering) and writes are dropped. Claiming
 * them on the bus keeps expected probes out of the "unhandled access" log.
 *
 * @example
 * ```ts
 * import { ABSENT_PORT } from "./absent_port.ts";
 * pio.insert(0x2f8, 8, ABSENT_PORT, "com2 (absent)");
 * ```
 * @module
 */

import type { BusDevice } from "../bus.ts";

/**
 * Reads 0xff in every byte, ignores writes. Stateless, so one object serves every range.
 *
 * @example
 * ```ts
 * const d = new Uint8Array(2);
 * ABSENT_PORT.read(5, d); // d: [0xff, 0xff]
 * ```
 */
export const ABSENT_PORT: BusDevice = Object.freeze({
  read: (_offset: number, data: Uint8Array) => void data.fill(0xff),
  write: () => {},
});
