/**
 * Scripted sandboxes: boot a microVM with the guest agent, run commands in it, move files, tear
 * it down. The centre of the library API (`mod.ts`).
 *
 * @module
 */

import { defaultGuest } from "../../guest/paths.ts";
import { AgentClient, type AgentReady } from "../agent/client.ts";
import { Cmdline } from "../boot/cmdline.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import { logger } from "../log.ts";
import {
  BootImageError,
  DEFAULT_CMDLINE,
  Machine,
  type MachineExit,
  VIRTIO_CONSOLE_CMDLINE,
} from "../vmm/machine.ts";
import type { DiskConfig, NetConfig } from "../vmm/machine_devices.ts";
import { ConsoleTap } from "./console_tap.ts";
import { SandboxProcess, startCommand } from "./sandbox_process.ts";
import type { RunOptions, RunResult, SpawnOptions } from "./run_types.ts";
import { runCommand } from "./run_command.ts";

const log = logger("sandbox");

/** The console port the agent listens on (guest/agent/PROTOCOL.md). */
export const AGENT_PORT = "denovmm.agent";
/** What tells the guest's /init to start the agent. */
export const AGENT_CMDLINE_ARG = "denovmm.agent=1";

/** How to boot a {@link MicroVm}; everything has a default. */
export interface MicroVmOptions {
  /** Kernel: a path or the image's bytes (ELF vmlinux or bzImage). Default: the default guest. */
  kernel?: string | Uint8Array;
  /** Initramfs with the agent: a path or bytes. Default: the default guest's, when `kernel` is unset. */
  initrd?: string | Uint8Array;
  /** Kernel command line (default: denovmm's, console on ttyS0 or hvc0); `denovmm.agent=1` is added. */
  cmdline?: string;
  /** Guest RAM in MiB (default 256). */
  memMiB?: number;
  /** vCPUs (default 1). */
  cpus?: number;
  /** Disks (/dev/vda first). */
  disks?: DiskConfig[];
  /** Network interfaces on existing taps (eth0 first). */
  nets?: NetConfig[];
  /** Guest console: serial ttyS0 (default) or virtio hvc0. */
  console?: "serial" | "virtio";
  /** CPU template (default "host"). */
  cpuTemplate?: string;
  /** kvm_pvm host settings (default "auto"). */
  pvmQuirks?: PvmQuirksMode;
  /** How long to wait for the agent (default 300 s: a kvm_pvm host boots in about a minute). */
  bootTimeoutMs?: number;
  /** `/dev/kvm` path. */
  kvmPath?: string;
}

/** The VM did not get as far as a ready agent; the message ends with the console's last lines. */
export class BootError extends Error {
  /** The last console lines. */
  readonly consoleTail: string;
  /** @example `throw new BootError("the guest rebooted", tail)` */
  constructor(reason: string, consoleTail: string) {
    super(
      `The microVM did not become ready: ${reason}` +
        (consoleTail ? `\n--- last console lines ---\n${consoleTail}` : ""),
    );
    this.name = "BootError";
    this.consoleTail = consoleTail;
  }
}

/**
 * What a machine exit means, in words.
 *
 * @example
 * ```ts
 * describeExit({ kind: "reset" }); // "the guest rebooted"
 * ```
 */
export function describeExit(e: MachineExit): string {
  switch (e.kind) {
    case "reset":
      return "the guest rebooted";
    case "panic":
      return `the guest kernel panicked (${e.message})`;
    case "stopped":
      return "the VM was stopped from the host";
    case "crashed":
      return `the VMM stopped the guest: ${e.message}`;
  }
}

/** Resolves after `ms` unless `signal` aborts first; never leaves a timer behind. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

async function bytesOf(what: string, v: string | Uint8Array): Promise<Uint8Array> {
  if (typeof v !== "string") return v;
  try {
    return await Deno.readFile(v);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message;
    throw new BootImageError(`Cannot open ${what} ${v}: ${why}`);
  }
}

/**
 * A booted microVM whose guest agent is ready for commands.
 *
 * @example
 * ```ts
 * import { MicroVm } from "./mod.ts";
 *
 * await using vm = await MicroVm.boot({ memMiB: 256 });
 * const r = await vm.run("uname", { args: ["-r"] });
 * console.log(r.exitCode, r.stdout);
 * ```
 */
export class MicroVm implements AsyncDisposable {
  /** The VM itself: counters, pause/resume, devices. */
  readonly machine: Machine;
  /** What the agent said when it came up. */
  readonly agent: AgentReady;
  /** Milliseconds from {@link MicroVm.boot} to a ready agent. */
  readonly readyMs: number;
  readonly #client: AgentClient;
  readonly #console: ConsoleTap;
  #exit?: MachineExit;
  #shutdown?: Promise<MachineExit>;

  private constructor(
    machine: Machine,
    client: AgentClient,
    consoleTap: ConsoleTap,
    ready: AgentReady,
    readyMs: number,
  ) {
    this.machine = machine;
    this.#client = client;
    this.#console = consoleTap;
    this.agent = ready;
    this.readyMs = readyMs;
    machine.exited.then((e) => (this.#exit = e));
  }

  /**
   * Boots a VM and waits for its agent (no sleeps: the agent says READY). Throws {@link BootError}
   * with the console's last lines when the guest ends or times out first.
   *
   * @example
   * ```ts
   * await using vm = await MicroVm.boot();
   * ```
   */
  static async boot(opts: MicroVmOptions = {}): Promise<MicroVm> {
    const t0 = performance.now();
    let kernel = opts.kernel;
    let initrd = opts.initrd;
    if (kernel === undefined) {
      const g = await defaultGuest({ onProgress: (l) => log.info(l) });
      kernel = g.kernel;
      initrd ??= g.initrd;
    }
    const virtio = opts.console === "virtio";
    const cmdline = Cmdline.parse(
      opts.cmdline ?? (virtio ? VIRTIO_CONSOLE_CMDLINE : DEFAULT_CMDLINE),
    );
    if (!cmdline.has("denovmm.agent")) cmdline.push(AGENT_CMDLINE_ARG);
    const consoleTap = new ConsoleTap();
    const machine = Machine.create({
      kernel: await bytesOf("kernel", kernel),
      initrd: initrd === undefined ? undefined : await bytesOf("initrd", initrd),
      cmdline: cmdline.toString(),
      memMiB: opts.memMiB ?? 256,
      cpus: opts.cpus ?? 1,
      cpuTemplate: opts.cpuTemplate ?? "host",
      pvmQuirks: opts.pvmQuirks ?? "auto",
      consoleOutput: (b) => consoleTap.push(b),
      kvmPath: opts.kvmPath,
      disks: opts.disks,
      nets: opts.nets,
      console: opts.console ?? "serial",
      ports: [AGENT_PORT],
    });
    machine.exited.then(() => consoleTap.close());
    const client = new AgentClient(machine.port(AGENT_PORT), {
      explainClose: async () => describeExit(await machine.exited),
    });
    machine.start();
    const timeoutMs = opts.bootTimeoutMs ?? 300_000;
    const abort = new AbortController();
    try {
      const ready = await Promise.race([
        client.ready,
        machine.exited.then((e) =>
          Promise.reject(new BootError(describeExit(e), consoleTap.tail()))
        ),
        sleep(timeoutMs, abort.signal).then(() => {
          throw new BootError(`no agent after ${timeoutMs} ms`, consoleTap.tail());
        }),
      ]);
      const ms = performance.now() - t0;
      log.info(
        `Guest agent ready after ${(ms / 1000).toFixed(1)} s (kernel ${ready.kernelRelease})`,
      );
      return new MicroVm(machine, client, consoleTap, ready, ms);
    } catch (e) {
      await machine.stop();
      if (e instanceof BootError) throw e;
      throw new BootError((e as Error).message, consoleTap.tail());
    } finally {
      abort.abort();
    }
  }

  /**
   * The guest console (serial or hvc0) from boot on. Output is kept for a reader up to 1 MiB;
   * past that, new output is dropped until it reads.
   */
  get console(): ReadableStream<Uint8Array> {
    return this.#console.readable;
  }

  /** The last console lines, as text (for error messages and logs). */
  consoleTail(lines = 40): string {
    return this.#console.tail(lines);
  }

  /** Resolves with how the VM ended, once it has. */
  get exited(): Promise<MachineExit> {
    return this.machine.exited;
  }

  /**
   * Runs a program in the guest and collects its output. A non-zero exit is a result; a timeout
   * kills the command's process group and rejects with {@link CommandTimeoutError}; the VM ending
   * first rejects with the reason.
   *
   * @example
   * ```ts
   * const r = await vm.run("sh", { args: ["-c", "echo hi; exit 3"] });
   * console.log(r.exitCode, r.stdout); // 3 "hi\n"
   * ```
   */
  run(cmd: string, opts: RunOptions = {}): Promise<RunResult> {
    return runCommand(this.#client, cmd, opts);
  }

  /**
   * Starts a program with streaming stdin/stdout/stderr. Output is flow-controlled like a pipe:
   * read or cancel both `stdout` and `stderr`, or the program stalls once 256 KiB of one of them
   * waits unread (the host never holds more than that per stream).
   *
   * @example
   * ```ts
   * const p = vm.spawn("cat");
   * const w = p.stdin.getWriter();
   * await w.write(new TextEncoder().encode("hi\n"));
   * await w.close();
   * console.log(await new Response(p.stdout).text(), await p.wait());
   * ```
   */
  spawn(cmd: string, opts: SpawnOptions = {}): SandboxProcess {
    return startCommand(this.#client, cmd, opts);
  }

  /**
   * Writes a file in the guest (created or truncated, then `mode`, default 0644).
   *
   * @example
   * ```ts
   * await vm.writeFile("/tmp/script.sh", "echo hi\n", { mode: 0o755 });
   * ```
   */
  async writeFile(
    path: string,
    data: Uint8Array | string,
    opts: { mode?: number } = {},
  ): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await this.#client.writeFile(path, bytes, opts.mode ?? 0o644);
  }

  /**
   * Reads a whole file from the guest.
   *
   * @example
   * ```ts
   * const text = new TextDecoder().decode(await vm.readFile("/etc/hostname"));
   * ```
   */
  async readFile(path: string): Promise<Uint8Array> {
    return await this.#client.readFile(path);
  }

  /**
   * Shuts the VM down: the agent kills its commands, the guest syncs and reboots, the VM ends;
   * if that takes longer than `timeoutMs` (default 10 s), the VM is stopped from the host.
   * Resolves with how it ended; calling it again returns the same promise.
   *
   * @example
   * ```ts
   * console.log(await vm.shutdown()); // { kind: "reset" }
   * ```
   */
  shutdown(opts: { timeoutMs?: number } = {}): Promise<MachineExit> {
    this.#shutdown ??= (async () => {
      if (this.#exit === undefined) {
        const abort = new AbortController();
        const graceful = (async () => {
          await this.#client.shutdown();
          await this.machine.exited;
        })();
        await Promise.race([graceful, sleep(opts.timeoutMs ?? 10_000, abort.signal)]);
        abort.abort();
        if (this.#exit === undefined) {
          log.warn("The guest did not shut down in time: stopping the VM");
          await this.machine.stop();
        }
      }
      return await this.machine.exited;
    })();
    return this.#shutdown;
  }

  /** `await using` support: {@link shutdown}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
