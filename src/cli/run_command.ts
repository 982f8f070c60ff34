/**
 * `denovmm run` / `denovmm demo`: boot a microVM with the guest console on this terminal and
 * exit with a code that tells how the guest ended.
 *
 * @module
 */

import { defaultGuest } from "../../guest/paths.ts";
import { Cmdline } from "../boot/cmdline.ts";
import {
  BootImageError,
  DEFAULT_CMDLINE,
  exitCodeOf,
  Machine,
  MAX_INIT_ARGS,
  VIRTIO_CONSOLE_CMDLINE,
} from "../vmm/machine.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import { logger } from "../log.ts";
import { checkKvmAccess, checkMemory, readUserFile } from "./host_checks.ts";
import type { DiskConfig } from "../vmm/machine_devices.ts";
import { DiskImageError } from "../virtio/block/file_backend.ts";
import { TapError } from "../virtio/net/tap_backend.ts";
import { parseNetSpecs } from "./net_spec.ts";
import { UsageError } from "./usage_error.ts";
import { attachTerminal } from "./terminal.ts";

const log = logger("cli");

/** The options `run` and `demo` share. */
export interface RunOptions {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  mem: number;
  cpus: number;
  cpuTemplate: string;
  pvmQuirks: PvmQuirksMode;
  /** Arguments for the guest's init (after `--`). */
  initArgs: string[];
  /** Build the default guest when it is not cached (`demo`). */
  buildGuest: boolean;
  /** `--disk PATH[,ro]` values. */
  disks?: string[];
  /** Guest console device. */
  console?: "serial" | "virtio";
  /** `--net tap=NAME[,mac=..]` values. */
  nets?: string[];
}

/**
 * Parses `--disk PATH[,ro]`.
 *
 * @example
 * ```ts
 * parseDisk("rootfs.ext4,ro"); // { path: "rootfs.ext4", readOnly: true }
 * ```
 */
export function parseDisk(spec: string): DiskConfig {
  const parts = spec.split(",");
  const path = parts[0];
  if (path.length === 0) throw new UsageError(`--disk ${spec}: the image path is empty`);
  let readOnly = false;
  for (const opt of parts.slice(1)) {
    if (opt === "ro") readOnly = true;
    else if (opt !== "rw") {
      throw new UsageError(`--disk ${spec}: unknown option "${opt}" (use ro or rw)`);
    }
  }
  return { path, readOnly };
}

/** Exit codes for host-side stops: 128 + the signal number, as shells report them. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Boots the VM described by `o` and resolves with the process exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await runVm({ mem: 256, cpus: 1, cpuTemplate: "host", pvmQuirks: "auto", initArgs: [], buildGuest: false }));
 * ```
 */
export async function runVm(o: RunOptions): Promise<number> {
  checkMemory(o.mem);
  const disks = (o.disks ?? []).map(parseDisk);
  const nets = parseNetSpecs(o.nets ?? []);
  let cmdline = o.cmdline ?? (o.console === "virtio" ? VIRTIO_CONSOLE_CMDLINE : DEFAULT_CMDLINE);
  if (o.initArgs.length > 0) cmdline += ` -- ${o.initArgs.join(" ")}`;
  const words = Cmdline.parse(cmdline).initArgs.length;
  if (words > MAX_INIT_ARGS) {
    throw new UsageError(
      `The guest command has ${words} words; Linux passes at most ${MAX_INIT_ARGS} arguments to init (put a longer command in a script)`,
    );
  }
  checkKvmAccess();
  let kernelPath = o.kernel;
  let initrdPath = o.initrd;
  if (kernelPath === undefined) {
    const g = await defaultGuest({ build: o.buildGuest, onProgress: (l) => log.info(`${l}`) });
    kernelPath = g.kernel;
    initrdPath ??= g.initrd;
  }
  const kernel = await readUserFile("kernel", kernelPath);
  const initrd = initrdPath ? await readUserFile("initrd", initrdPath) : undefined;

  let machine: Machine;
  try {
    machine = Machine.create({
      kernel,
      initrd,
      cmdline,
      memMiB: o.mem,
      cpus: o.cpus,
      cpuTemplate: o.cpuTemplate,
      pvmQuirks: o.pvmQuirks,
      consoleOutput: (b) => {
        Deno.stdout.writeSync(b);
      },
      disks,
      console: o.console ?? "serial",
      nets,
    });
  } catch (e) {
    // A disk or tap the user named that cannot be used is a usage error, like a missing kernel.
    if (e instanceof DiskImageError || e instanceof BootImageError || e instanceof TapError) {
      throw new UsageError(e.message);
    }

    throw e;
  }
  let signalCode: number | undefined;
  const onSignal = (name: keyof typeof SIGNAL_EXIT) => () => {
    signalCode ??= SIGNAL_EXIT[name];
    machine.stop();
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  for (const [sig, h] of Object.entries(handlers)) Deno.addSignalListener(sig as Deno.Signal, h);
  const term = attachTerminal((b) => machine.consoleWrite(b), () => machine.stop());
  try {
    machine.start();
    const exit = await machine.exited;
    term[Symbol.dispose]();
    switch (exit.kind) {
      case "panic":
        log.error(`Guest kernel panicked: ${exit.message}`);
        break;
      case "crashed":
        log.error(`${exit.message}${exit.report ? "\n" + exit.report : ""}`);
        break;
      default:
        log.info(`Guest ended (${exit.kind})`);
    }
    for (const net of machine.nets) log.info(net.summary());
    return signalCode ?? exitCodeOf(exit);
  } finally {
    term[Symbol.dispose]();
    for (const [sig, h] of Object.entries(handlers)) {
      Deno.removeSignalListener(sig as Deno.Signal, h);
    }
  }
}
