/**
 * The legacy PC devices of a denovmm machine on the port-I/O bus: COM1, the i8042 (reset and
 * Ctrl-Alt-Del), the POST-code port, and empty stand-ins for the ports Linux probes. The PIC, PIT
 * and speaker port are served by KVM's in-kernel irqchip and never reach this bus.
 *
 * @example
 * ```ts
 * import { registerLegacyDevices } from "./mod.ts";
 * const { serial } = registerLegacyDevices(pio, {
 *   serialOutput: (b) => Deno.stdout.writeSync(b),
 *   serialInterrupt: () => pulseIrq(COM1_IRQ),
 *   onReset: () => machine.stop(),
 * });
 * ```
 * @module
 */

import { COM1_PORT, I8042_COMMAND_PORT, I8042_DATA_PORT } from "../../memory/layout.ts";
import { type IoBus, offsetDevice } from "../bus.ts";
import { ABSENT_PORT } from "./absent_port.ts";
import { DEBUG_PORT, DebugPort } from "./debug_port.ts";
import { I8042 } from "./i8042.ts";
import { I8042_REG } from "./i8042_regs.ts";
import { Serial } from "./serial.ts";

/**
 * Port ranges Linux probes on a PC where this machine has nothing: the other serial ports, and
 * the DMA page register Linux reads to decide there is no 8237 DMA controller. They read as all
 * ones, which is how the probes tell the hardware is absent.
 *
 * @example
 * ```ts
 * ABSENT_PORTS.map(([base, , name]) => `${name}@${base.toString(16)}`); // ["com2@2f8", ...]
 * ```
 */
export const ABSENT_PORTS: readonly (readonly [base: number, length: number, name: string])[] = [
  [0x2f8, 8, "com2"],
  [0x3e8, 8, "com3"],
  [0x2e8, 8, "com4"],
  [0x87, 1, "dma page 0"],
];

/** Ports of one 8250-family UART. */
const UART_PORTS = 8;

/**
 * Options of {@link registerLegacyDevices}.
 *
 * @example
 * ```ts
 * const opts: LegacyOptions = {
 *   serialOutput: (b) => console.log(new TextDecoder().decode(b)),
 *   serialInterrupt: () => pulseIrq(4),
 *   onReset: () => machine.stop(),
 *   keyboardInterrupt: () => pulseIrq(1),
 * };
 * ```
 */
export interface LegacyOptions {
  /** COM1's transmitted bytes (a reused buffer: copy to keep). */
  serialOutput: (bytes: Uint8Array) => void;
  /** Pulses COM1's IRQ (4, `COM1_IRQ` in the memory layout). */
  serialInterrupt: () => void;
  /** COM1's receive FIFO has room again after refusing host input. */
  serialRxSpace?: () => void;
  /** The guest pulsed the reset line through the i8042. */
  onReset: () => void;
  /** Pulses IRQ 1 for the i8042; without it the keyboard cannot interrupt the guest. */
  keyboardInterrupt?: () => void;
}

/**
 * The device objects {@link registerLegacyDevices} put on the bus.
 *
 * @example
 * ```ts
 * const { serial, i8042, debugPort } = registerLegacyDevices(pio, opts);
 * ```
 */
export interface LegacyDevices {
  /** COM1. */
  serial: Serial;
  /** The keyboard controller at ports 0x60 and 0x64. */
  i8042: I8042;
  /** Port 0x80. */
  debugPort: DebugPort;
}

/**
 * Creates the legacy devices and inserts them into `pio`: COM1 at {@link COM1_PORT} (8 ports),
 * the i8042 at ports 0x60 and 0x64 only (0x61-0x63 belong to other devices), the POST port 0x80,
 * and the {@link ABSENT_PORTS}. Throws if `pio` already has something at those ports.
 *
 * @example
 * ```ts
 * const pio = new IoBus();
 * const { serial } = registerLegacyDevices(pio, { serialOutput, serialInterrupt, onReset });
 * serial.enqueueInput(new TextEncoder().encode("\n"));
 * ```
 */
export function registerLegacyDevices(pio: IoBus, options: LegacyOptions): LegacyDevices {
  const serial = new Serial({
    output: options.serialOutput,
    interrupt: options.serialInterrupt,
    onRxSpace: options.serialRxSpace,
  });
  const i8042 = new I8042({ onReset: options.onReset, interrupt: options.keyboardInterrupt });
  const debugPort = new DebugPort();
  pio.insert(COM1_PORT, UART_PORTS, serial, "com1");
  pio.insert(I8042_DATA_PORT, 1, i8042, "i8042 data"); // offset 0: the data register
  pio.insert(I8042_COMMAND_PORT, 1, offsetDevice(i8042, I8042_REG.COMMAND), "i8042 command");
  pio.insert(DEBUG_PORT, 1, debugPort, "post codes");
  for (const [base, length, name] of ABSENT_PORTS) {
    pio.insert(base, length, ABSENT_PORT, `${name} (absent)`);
  }
  return { serial, i8042, debugPort };
}
