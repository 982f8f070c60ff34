/**
 * The legacy PC devices of a denovmm machine on the port-I/O bus: COM1, the i8042 reset path,
 * and silent stand-ins for ports Linux probes on any PC.
 *
 * @module
 */

import { COM1_PORT, I8042_DATA_PORT } from "../../memory/layout.ts";
import type { BusDevice, IoBus } from "../bus.ts";
import { I8042 } from "./i8042.ts";
import { Serial } from "./serial.ts";

/** A device that reads as all-ones and ignores writes: an empty ISA slot. */
export const ABSENT: BusDevice = {
  read: (_offset, data) => data.fill(0xff),
  write: () => {},
};

/** A device that reads as zero and ignores writes (the POST-code port). */
export const SINK: BusDevice = {
  read: (_offset, data) => data.fill(0),
  write: () => {},
};

/** Options of {@link registerLegacyDevices}. */
export interface LegacyOptions {
  serialOutput: (bytes: Uint8Array) => void;
  serialInterrupt: () => void;
  onReset: () => void;
}

/**
 * Registers COM1 (0x3f8), the i8042 (0x60-0x64), the POST port (0x80) and empty COM2-4.
 *
 * @example
 * ```ts
 * const { serial } = registerLegacyDevices(pio, { serialOutput, serialInterrupt, onReset });
 * ```
 */
export function registerLegacyDevices(
  pio: IoBus,
  o: LegacyOptions,
): { serial: Serial; i8042: I8042 } {
  const serial = new Serial({ output: o.serialOutput, interrupt: o.serialInterrupt });
  const i8042 = new I8042({ onReset: o.onReset });
  pio.insert(COM1_PORT, 8, serial, "com1");
  pio.insert(I8042_DATA_PORT, 5, i8042, "i8042");
  pio.insert(0x80, 1, SINK, "post");
  for (const [port, name] of [[0x2f8, "com2"], [0x3e8, "com3"], [0x2e8, "com4"]] as const) {
    pio.insert(port, 8, ABSENT, name);
  }
  return { serial, i8042 };
}
