/**
 * The {@link VmController} that boots a real denovmm {@link Machine}: it reads the kernel and
 * initrd named by the boot source, maps the API configuration to a MachineConfig and starts
 * it, with the guest console on stdout as `denovmm run` has it.
 *
 * @module
 */

import { checkKvmAccess, checkMemory, readUserFile } from "../cli/host_checks.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import type { VirtioDevice } from "../virtio/device.ts";
import { VIRTIO_ID } from "../virtio/device.ts";
import { Machine, type MachineExit } from "../vmm/machine.ts";
import { replaceDiskImage } from "../vmm/machine_devices.ts";
import { ApiError } from "./api_error.ts";
import type { DeviceCounters, VmCounters } from "./metrics.ts";
import type { VmController, VmState } from "./vm_controller.ts";
import type { VmConfigData } from "./vm_config_types.ts";
import { toMachineFields } from "./vm_to_machine.ts";

/** Options of {@link MachineController}. */
export interface MachineControllerOptions {
  /** kvm_pvm host settings (default "auto"). */
  pvmQuirks?: PvmQuirksMode;
  /** Receives guest console output (default: written to stdout). */
  consoleOutput?: (bytes: Uint8Array) => void;
  /** Where the guest console is (default the 16550A, ttyS0, as in Firecracker). */
  console?: "serial" | "virtio";
  /** `/dev/kvm` path. */
  kvmPath?: string;
  /** Called with the machine once it runs (to attach a terminal, say). */
  onStarted?: (machine: Machine) => void;
}

/** Firecracker's metrics component names by virtio device ID. */
const KIND: Readonly<Record<number, string>> = {
  [VIRTIO_ID.NET]: "net",
  [VIRTIO_ID.BLOCK]: "block",
  [VIRTIO_ID.CONSOLE]: "console",
  [VIRTIO_ID.RNG]: "entropy",
  [VIRTIO_ID.VSOCK]: "vsock",
};

function countersOf(d: VirtioDevice): Readonly<Record<string, number>> | undefined {
  const c = (d as { counters?: unknown }).counters;
  if (typeof c !== "object" || c === null) return undefined;
  return c as Record<string, number>;
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
  #starting = false;
  /** API ids of the devices that have one (drive ids; interface ids once virtio-net is wired). */
  readonly #apiIds = new Map<VirtioDevice, string>();
  readonly #exited = Promise.withResolvers<MachineExit>();

  /** A controller with no VM yet. @example `new MachineController({ pvmQuirks: "auto" })` */
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

  /** "Not started", "Running" or "Paused". @example `controller.state()` */
  state(): VmState {
    if (this.#machine === undefined) return "Not started";
    return this.#machine.paused ? "Paused" : "Running";
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
    if (this.#machine !== undefined || this.#starting) throw new Error("The VM is already started");
    this.#starting = true;
    try {
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
        nets: f.nets,
        console: this.#o.console ?? "serial",
      });
      machine.disks.forEach((d, i) => this.#apiIds.set(d, f.driveIds[i]));
      machine.nets.forEach((n, i) => this.#apiIds.set(n, f.ifaceIds[i]));
      this.#machine = machine;
      machine.start();
      machine.exited.then((e) => this.#exited.resolve(e));
      this.#o.onStarted?.(machine);
    } finally {
      this.#starting = false;
    }
  }

  #running(): Machine {
    const m = this.#machine;
    if (m === undefined) throw new ApiError(400, "The microVM is not running.");
    return m;
  }

  /**
   * Presses Ctrl-Alt-Del through the Machine's i8042.
   *
   * @example
   * ```ts
   * controller.sendCtrlAltDel();
   * ```
   */
  sendCtrlAltDel(): void {
    if (!this.#running().sendCtrlAltDel()) {
      throw new ApiError(
        400,
        "The guest is not reading its keyboard (no i8042 keyboard driver, scanning off, or an " +
          "earlier Ctrl-Alt-Del is still unread).",
      );
    }
  }

  /**
   * Points drive `driveId` of the running VM at another image; the guest is told its capacity
   * may have changed (a configuration interrupt).
   *
   * @example `await controller.updateDrive("scratch", "./scratch2.ext4");`
   */
  async updateDrive(driveId: string, pathOnHost: string): Promise<void> {
    const m = this.#running();
    const disk = m.disks.find((d) => this.#apiIds.get(d) === driveId);
    if (disk === undefined) {
      throw new ApiError(400, `The drive ${driveId} is not attached to the running VM.`);
    }
    await replaceDiskImage(disk, pathOnHost); // a file that cannot be opened is a plain 400
  }

  /** Parks every vCPU (see {@link Machine.pause}). @example `await controller.pause()` */
  async pause(): Promise<void> {
    await this.#running().pause();
  }

  /** Lets the vCPUs run again. @example `await controller.resume()` */
  resume(): Promise<void> {
    this.#running().resume();
    return Promise.resolve();
  }

  /**
   * The machine's cumulative counters: per-vCPU exits and every device that has `counters`,
   * named by its API id (drive id) or its device name.
   *
   * @example
   * ```ts
   * controller.counters()?.devices[0]; // { kind: "block", id: "rootfs", counters: { reads: 12, ... } }
   * ```
   */
  counters(): VmCounters | undefined {
    const m = this.#machine;
    if (m === undefined) return undefined;
    const devices: DeviceCounters[] = [];
    for (const d of m.virtioDevices) {
      const counters = countersOf(d);
      if (counters === undefined) continue;
      devices.push({
        kind: KIND[d.deviceId] ?? `virtio${d.deviceId}`,
        id: this.#apiIds.get(d) ?? d.name,
        counters,
      });
    }
    return { vcpus: m.vcpuCounters, devices };
  }
}
