/**
 * The Firecracker-compatible ways to run a VM:
 *
 * - `denovmm api --api-sock PATH`: serves the API and boots when `InstanceStart` arrives (or at
 *   once with `--config-file`), exits with the guest's exit code and removes the socket.
 * - `denovmm run --api-sock PATH`: boots the VM the other `run` flags describe and keeps the
 *   socket for runtime requests (pause, Ctrl-Alt-Del, metrics, `GET /vm/config`).
 * - `denovmm run --config-file vm.json [--api-sock PATH | --no-api]`: boots the VM the file
 *   describes, with or without the socket.
 *
 * The guest console is this process's stdin/stdout, as Firecracker's serial console is.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { defaultGuest } from "../../guest/paths.ts";
import { ApiError } from "../api/api_error.ts";
import { ApiHandler } from "../api/api_handler.ts";
import { loadConfigFile } from "../api/config_file.ts";
import { MachineController } from "../api/machine_controller.ts";
import { ApiSocketError, startApiServer } from "../api/server.ts";
import { VmConfig } from "../api/vm_config.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import { LOG_LEVELS, logger, setupLogging } from "../log.ts";
import { DEFAULT_MAX_BODY_BYTES } from "../api/body_reader.ts";
import { parseNetSpecs } from "./net_spec.ts";
import {
  DEFAULT_CMDLINE,
  exitCodeOf,
  type Machine,
  VIRTIO_CONSOLE_CMDLINE,
} from "../vmm/machine.ts";
import { intIn, oneOf } from "./parse.ts";
import { parseDisk } from "./run_command.ts";
import { attachTerminal } from "./terminal.ts";
import { UsageError } from "./usage_error.ts";

const log = logger("cli");

/** Exit codes for host-side stops: 128 + the signal number, as shells report them. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** What `run` flags describe a VM with (the subset {@link configFromRunFlags} reads). */
export interface RunFlags {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  mem: number;
  cpus: number;
  cpuTemplate: string;
  initArgs: string[];
  disks: string[];
  /** `--net tap=NAME[,mac=MAC]` values, eth0 first. */
  nets: string[];
  console: "serial" | "virtio";
  buildGuest: boolean;
}

/** Options of {@link runWithApi}. */
export interface ApiRunOptions {
  /** The API socket; none with `noApi` or when unset. */
  apiSock?: string;
  /** Firecracker's configuration file: the whole VM, booted at once. */
  configFile?: string;
  /** `run` flags describing the VM, booted at once (`run --api-sock` without a file). */
  runFlags?: RunFlags;
  /** `GET /` id and log tag (Firecracker's `--id`). */
  instanceId?: string;
  /** Largest request body (Firecracker's `--http-api-max-payload-size`). */
  maxBodyBytes?: number;
  pvmQuirks: PvmQuirksMode;
  console?: "serial" | "virtio";
}

/**
 * The `run` flags a `--config-file` replaces; giving one of them with a file is refused
 * instead of silently ignored.
 *
 * @example
 * ```ts
 * RUN_FLAGS_REPLACED_BY_CONFIG.includes("mem"); // true
 * ```
 */
export const RUN_FLAGS_REPLACED_BY_CONFIG = [
  "kernel",
  "initrd",
  "cmdline",
  "mem",
  "cpus",
  "cpuTemplate",
  "disk",
  "net",
] as const;

/**
 * The API configuration for what `run`'s flags describe: the same kernel, initrd, command line
 * (init arguments included), memory, vCPUs and disks `denovmm run` boots. Disks become drives
 * `vda`, `vdb`, ... (none is the root device: the guest boots from its initramfs).
 *
 * @example
 * ```ts
 * const c = await configFromRunFlags({ mem: 256, cpus: 1, cpuTemplate: "host", initArgs: [],
 *   disks: [], nets: [], console: "serial", buildGuest: false });
 * ```
 */
export async function configFromRunFlags(f: RunFlags): Promise<VmConfig> {
  let kernel = f.kernel;
  let initrd = f.initrd;
  if (kernel === undefined) {
    const g = await defaultGuest({ build: f.buildGuest, onProgress: (l) => log.info(`${l}`) });
    kernel = g.kernel;
    initrd ??= g.initrd;
  }
  let cmdline = f.cmdline ?? (f.console === "virtio" ? VIRTIO_CONSOLE_CMDLINE : DEFAULT_CMDLINE);
  if (f.initArgs.length > 0) cmdline += ` -- ${f.initArgs.join(" ")}`;
  const c = new VmConfig();
  const apply = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof ApiError) throw new UsageError(`${what}: ${e.message}`);
      throw e;
    }
  };
  apply("--kernel/--initrd/--cmdline", () =>
    c.putBootSource({
      kernel_image_path: kernel,
      boot_args: cmdline,
      ...(initrd !== undefined ? { initrd_path: initrd } : {}),
    }));
  apply("--mem/--cpus", () =>
    c.putMachineConfig({
      vcpu_count: f.cpus,
      mem_size_mib: f.mem,
      cpu_template: f.cpuTemplate === "host" ? "None" : f.cpuTemplate,
    }));
  f.disks.map(parseDisk).forEach((d, i) => {
    const id = `vd${String.fromCharCode(97 + i)}`;
    apply(`--disk ${d.path}`, () =>
      c.putDrive(id, {
        drive_id: id,
        path_on_host: d.path,
        is_root_device: false,
        is_read_only: d.readOnly ?? false,
      }));
  });
  parseNetSpecs(f.nets).forEach((n, i) => {
    const id = `eth${i}`;
    apply(`--net tap=${n.tap}`, () =>
      c.putNetworkInterface(id, {
        iface_id: id,
        host_dev_name: n.tap,
        ...(n.mac !== undefined ? { guest_mac: n.mac } : {}),
      }));
  });
  return c;
}

/**
 * Runs a VM with the API (see the module doc) and resolves with the process exit code: the
 * guest's (0 reset, 1 panic, 3 crash), 130/143 on SIGINT/SIGTERM. Bad input (a bad config file,
 * a socket path in use, a VM that cannot boot) throws a {@link UsageError}.
 *
 * @example
 * ```ts
 * Deno.exitCode = await runWithApi({ apiSock: "/tmp/fc.sock", pvmQuirks: "auto" });
 * ```
 */
export async function runWithApi(o: ApiRunOptions): Promise<number> {
  const config = o.configFile !== undefined
    ? await loadConfigFile(o.configFile)
    : o.runFlags !== undefined
    ? await configFromRunFlags(o.runFlags)
    : new VmConfig();
  const bootNow = o.configFile !== undefined || o.runFlags !== undefined;

  let term: Disposable | undefined;
  const controller = new MachineController({
    pvmQuirks: o.pvmQuirks,
    console: o.console ?? o.runFlags?.console ?? "serial",
    onStarted: (m: Machine) => {
      term = attachTerminal((b) => m.consoleWrite(b), () => m.stop());
    },
  });
  let handler: ApiHandler;
  try {
    handler = new ApiHandler({ controller, config, instanceId: o.instanceId });
  } catch (e) {
    if (e instanceof ApiError) throw new UsageError(`${o.configFile ?? "config"}: ${e.message}`);
    throw e;
  }
  let server;
  if (o.apiSock !== undefined) {
    try {
      server = await startApiServer({
        socketPath: o.apiSock,
        handler,
        maxBodyBytes: o.maxBodyBytes,
      });
    } catch (e) {
      await handler.close();
      if (e instanceof ApiSocketError) throw new UsageError(e.message);
      throw e;
    }
  }

  let signalCode: number | undefined;
  const quit = Promise.withResolvers<void>();
  const onSignal = (name: keyof typeof SIGNAL_EXIT) => () => {
    signalCode ??= SIGNAL_EXIT[name];
    const m = controller.machine;
    if (m !== undefined) m.stop();
    else quit.resolve();
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  for (const [sig, h] of Object.entries(handlers)) Deno.addSignalListener(sig as Deno.Signal, h);
  try {
    if (bootNow) {
      try {
        await handler.start();
      } catch (e) {
        if (e instanceof ApiError) throw new UsageError(e.message);
        throw e;
      }
    } else {
      log.info(`Waiting for the VM configuration and InstanceStart on ${o.apiSock}`);
    }
    const exit = await Promise.race([controller.exited, quit.promise.then(() => undefined)]);
    if (exit === undefined) return signalCode ?? 0;
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
    return signalCode ?? exitCodeOf(exit);
  } finally {
    term?.[Symbol.dispose]();
    for (const [sig, h] of Object.entries(handlers)) {
      Deno.removeSignalListener(sig as Deno.Signal, h);
    }
    // A VM that started and failed to boot must not outlive the process either.
    await controller.machine?.stop();
    if (server !== undefined) await server.shutdown();
    else await handler.close();
  }
}

/** The `run`/`demo` option values {@link runFromRunCommand} reads. */
export interface RunCommandValues
  extends Omit<RunFlags, "initArgs" | "disks" | "nets" | "buildGuest"> {
  disk: string[];
  net: string[];
  pvmQuirks: PvmQuirksMode;
  apiSock?: string;
  configFile?: string;
  /** False with `--no-api`. */
  api: boolean;
  id?: string;
}

/**
 * True when `run`'s options ask for the API path (`--api-sock`, `--config-file`, `--no-api`).
 *
 * @example
 * ```ts
 * if (wantsApi(o)) return await runFromRunCommand(initArgs, o, source, false);
 * ```
 */
export function wantsApi(o: { apiSock?: string; configFile?: string; api: boolean }): boolean {
  return o.apiSock !== undefined || o.configFile !== undefined || !o.api;
}

/**
 * `run --api-sock` / `run --config-file`: checks the option combination, then {@link runWithApi}.
 * `source(name)` tells whether an option came from the command line ("cli") or its default.
 *
 * @example
 * ```ts
 * Deno.exitCode = await runFromRunCommand(initArgs, o, (k) => cmd.getOptionValueSource(k), false);
 * ```
 */
export async function runFromRunCommand(
  initArgs: string[],
  o: RunCommandValues,
  source: (option: string) => string | undefined,
  buildGuest: boolean,
): Promise<number> {
  if (!o.api && o.apiSock !== undefined) {
    throw new UsageError("--no-api and --api-sock exclude each other");
  }
  if (!o.api && o.configFile === undefined) {
    throw new UsageError(
      "--no-api needs --config-file: without the API, the file describes the VM",
    );
  }
  if (o.configFile !== undefined) {
    const given = RUN_FLAGS_REPLACED_BY_CONFIG.filter((k) => source(k) === "cli");
    if (given.length > 0 || initArgs.length > 0) {
      const names = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
      if (initArgs.length > 0) names.push("guest arguments after --");
      throw new UsageError(
        `--config-file describes the whole VM; drop ${names.join(", ")} (put boot arguments in ` +
          `"boot-source"."boot_args")`,
      );
    }
  }
  return await runWithApi({
    apiSock: o.api ? o.apiSock : undefined,
    configFile: o.configFile,
    runFlags: o.configFile === undefined
      ? { ...o, initArgs, disks: o.disk, nets: o.net, buildGuest }
      : undefined,
    instanceId: o.id,
    pvmQuirks: o.pvmQuirks,
    console: o.console,
  });
}

/**
 * The `denovmm api` command.
 *
 * @example
 * ```ts
 * program.addCommand(apiCommand().exitOverride());
 * ```
 */
export function apiCommand() {
  return new Command("api")
    .description(
      "serve the Firecracker-compatible API on a Unix socket; boot on InstanceStart " +
        "(or at once with --config-file); exit when the guest ends",
    )
    .requiredOption("--api-sock <path>", "Unix socket to create for the API (must not exist)")
    .option("--config-file <path>", "Firecracker configuration file: boot it at once")
    .option("--id <id>", "instance id reported by GET / and in log lines", "anonymous-instance")
    .option(
      "--http-api-max-payload-size <bytes>",
      "largest accepted request body",
      intIn(1024, 2 ** 24),
      DEFAULT_MAX_BODY_BYTES,
    )
    .addOption(
      new Option("--pvm-quirks <mode>", "PVM-host guest settings: auto detects a kvm_pvm host")
        .argParser(oneOf<PvmQuirksMode>(["auto", "on", "off"]))
        .default("auto" as PvmQuirksMode),
    )
    .addOption(
      new Option("--log-level <level>", "log verbosity (logs go to stderr)")
        .choices(LOG_LEVELS)
        .default("info" as const),
    )
    .action(async (o) => {
      setupLogging(o.logLevel);
      Deno.exitCode = await runWithApi({
        apiSock: o.apiSock,
        configFile: o.configFile,
        instanceId: o.id,
        maxBodyBytes: o.httpApiMaxPayloadSize,
        pvmQuirks: o.pvmQuirks,
      });
    });
}
