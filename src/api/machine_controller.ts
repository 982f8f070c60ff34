/**
 * The {@link VmController} that boots a real denovmm {@link Machine}: it reads the kernel and
 * initrd named by the boot source, maps the API configuration to a MachineConfig and starts
 * it, with the guest console on stdout as `denovmm run` has it.
 *
 * @module
 */

import { checkKvmAccess, checkMemory, readUserFile } from "../cli/host_checks.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import { Machine, type MachineExit } from "../vmm/machine.ts";
import { ApiError } from "./api_error.ts";
import type { VmController, VmState } from "./vm_controller.ts";
import type { VmConfigData } from "./vm_config_types.ts";
import { toMachineFields } from "./vm_to_machine.ts";

/** Options of {@link MachineController}. */
export interface MachineControllerOptions {
  /** kvm_pvm host settings (default "auto"). */
  pvmQuirks?: PvmQuirksMode;
  /** Receives guest console output (default: written to stdout). */
  consoleOutput?: (bytes: Uint8Array) => void;
  /** `/dev/kvm` path. */
  kvmPath?: string;
}

/** The Machine methods this controller uses when the Machine has them (see the report). */
interface OptionalMachineMethods {
  sendCtrlAltDel?: () => boolean;
}

/**
 * Runs one Machine for the API.
 *
 * @example
 * ```ts
 * const controller = new MachineController();
 * await using api = await startApiServer({ socketPath, controller });
 * Deno.exitCode = exitCodeOf(await controller.exited);
 * ```
 */
export class MachineController implements VmController {
  readonly #o: MachineControllerOptions;
  #machine?: Machine;
  #driveIds: string[] = [];
  readonly #exited = Promise.withResolvers<MachineExit>();

  /** @example `new MachineController({ pvmQuirks: "auto" })` */
  constructor(o: MachineControllerOptions = {}) {
    this.#o = o;
  }

  /** Resolves with how the guest ended, once it was started and has ended. */
  get exited(): Promise<MachineExit> {
    return this.#exited.promise;
  }

  /** The running machine, if started. @example `controller.machine?.vcpuCounters` */
  get machine(): Machine | undefined {
    return this.#machine;
  }

  /** @example `controller.state()` */
  state(): VmState {
    return this.#machine === undefined ? "Not started" : "Running";
  }

  /**
   * Reads the images, builds the Machine and starts its vCPUs. Throws with a plain message
   * (a missing file, too little memory, no /dev/kvm, a bad image) and stays "Not started".
   *
   * @example
   * ```ts
   * await controller.start(config.snapshot());
   * ```
   */
  async start(config: VmConfigData): Promise<void> {
    if (this.#machine !== undefined) throw new Error("The VM is already started");
    const f = toMachineFields(config);
    checkMemory(f.memMiB);
    checkKvmAccess();
    const kernel = await readUserFile("kernel", f.kernelPath);
    const initrd = f.initrdPath ? await readUserFile("initrd", f.initrdPath) : undefined;
    const machine = Machine.create({
      kernel,
      initrd,
      cmdline: f.cmdline,
      memMiB: f.memMiB,
      cpus: f.cpus,
      cpuTemplate: f.cpuTemplate,
      pvmQuirks: this.#o.pvmQuirks ?? "auto",
      consoleOutput: this.#o.consoleOutput ?? ((b) => void Deno.stdout.writeSync(b)),
      kvmPath: this.#o.kvmPath,
      disks: f.disks,
      console: "serial",
    });
    this.#machine = machine;
    this.#driveIds = f.driveIds;
    machine.start();
    machine.exited.then((e) => this.#exited.resolve(e));
  }

  /**
   * Presses Ctrl-Alt-Del through the Machine's i8042, when the Machine exposes it.
   *
   * @example
   * ```ts
   * controller.sendCtrlAltDel();
   * ```
   */
  sendCtrlAltDel(): void {
    const m = this.#machine as (Machine & OptionalMachineMethods) | undefined;
    if (m === undefined) throw new ApiError(400, "The microVM is not running.");
    if (typeof m.sendCtrlAltDel !== "function") {
      throw new ApiError(400, "SendCtrlAltDel is not supported by this denovmm build yet.");
    }
    if (!m.sendCtrlAltDel()) {
      throw new ApiError(
        400,
        "The guest is not reading its keyboard (i8042 scanning off, or an earlier Ctrl-Alt-Del is still unread).",
      );
    }
  }

  /**
   * Appends one JSON line of counters to `metricsPath`: a timestamp, per-vCPU exit counts and
   * per-drive block counters keyed by drive id.
   *
   * @example
   * ```ts
   * await controller.flushMetrics("metrics.json");
   * ```
   */
  async flushMetrics(metricsPath: string): Promise<void> {
    const m = this.#machine;
    const block: Record<string, unknown> = {};
    m?.disks.forEach((d, i) => (block[this.#driveIds[i] ?? d.name] = { ...d.counters }));
    const record = {
      utc_timestamp_ms: Date.now(),
      vcpu: m?.vcpuCounters.map((c) => ({ ...c })) ?? [],
      block,
    };
    try {
      await Deno.writeTextFile(metricsPath, JSON.stringify(record) + "\n", { append: true });
    } catch (e) {
      throw new ApiError(
        400,
        `Cannot write metrics to ${metricsPath}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
