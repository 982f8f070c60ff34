/**
 * What the API server asks of a VM. The server keeps the configuration, the rules of the API,
 * the logger and the metrics; the controller boots and drives the machine and reports its
 * counters. A fake controller makes the server testable without KVM; {@link MachineController}
 * (machine_controller.ts) is the real one.
 *
 * @module
 */

import type { VmCounters } from "./metrics.ts";
import type { VmConfigData } from "./vm_config_types.ts";

/** The instance states Firecracker reports in `GET /`. */
export type VmState = "Not started" | "Running" | "Paused";

/**
 * A VM the API server controls. Methods may throw an {@link ApiError} to choose the status and
 * message; any other error from `start` becomes a 400 "Start microvm error: ...", and from the
 * others a 400 with its message.
 *
 * @example
 * ```ts
 * const fake: VmController = {
 *   state: () => "Not started",
 *   start: async () => {},
 *   sendCtrlAltDel: () => {},
 *   counters: () => undefined,
 * };
 * ```
 */
export interface VmController {
  /** The current state. */
  state(): VmState;
  /** Boots the configured VM; resolves once its vCPUs run. */
  start(config: VmConfigData): Promise<void>;
  /** Presses Ctrl-Alt-Del on the guest's keyboard. */
  sendCtrlAltDel(): void;
  /** The running VM's cumulative counters (undefined before start), for the metrics. */
  counters(): VmCounters | undefined;
  /** Pauses the vCPUs (`PATCH /vm {"state": "Paused"}`); absent when unsupported. */
  pause?(): Promise<void>;
  /** Resumes paused vCPUs; absent when unsupported. */
  resume?(): Promise<void>;
  /** Swaps a running drive's backing file (`PATCH /drives/{id}` after boot); absent when unsupported. */
  updateDrive?(driveId: string, pathOnHost: string): Promise<void>;
}
