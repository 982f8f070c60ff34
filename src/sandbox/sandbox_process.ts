/**
 * A command started in the guest with streaming stdio ({@link MicroVm.spawn}).
 *
 * @module
 */

import type { AgentClient, AgentCommand, CommandSinks } from "../agent/client.ts";
import type { ExitInfo } from "../agent/protocol.ts";
import { type SignalName, signalName, signalNumber } from "../agent/signals.ts";
import { PacedOutput } from "./paced_output.ts";
import type { ProcessStatus, SpawnOptions } from "./run_types.ts";

/** The guest environment every command starts from. */
export const GUEST_BASE_ENV: Readonly<Record<string, string>> = {
  PATH: "/bin:/sbin:/usr/bin:/usr/sbin",
  HOME: "/root",
};

/**
 * A process status from the agent's EXIT (a signal is reported as 128 + its number).
 *
 * @example
 * ```ts
 * statusOf({ status: 0, signal: 9 }); // { exitCode: 137, signal: "SIGKILL" }
 * ```
 */
export function statusOf(e: ExitInfo): ProcessStatus {
  return e.signal === 0
    ? { exitCode: e.status, signal: null }
    : { exitCode: 128 + e.signal, signal: signalName(e.signal) };
}

/**
 * Starts `cmd` through the agent with output to `sinks`.
 *
 * @example
 * ```ts
 * const c = execCommand(client, "ls", { args: ["/"] }, true, sinks);
 * ```
 */
export function execCommand(
  client: AgentClient,
  cmd: string,
  opts: SpawnOptions,
  stdinPipe: boolean,
  sinks: CommandSinks,
): AgentCommand {
  const env = Object.entries({ ...GUEST_BASE_ENV, ...opts.env }).map(([k, v]) => `${k}=${v}`);
  for (const k of Object.keys(opts.env ?? {})) {
    if (k.length === 0 || k.includes("=")) {
      throw new TypeError(`Bad environment variable name: ${JSON.stringify(k)}`);
    }
  }
  return client.exec(
    { argv: [cmd, ...(opts.args ?? [])], env, cwd: opts.cwd ?? "/root", stdinPipe },
    sinks,
  );
}

/**
 * A running guest command: its stdio as web streams, `wait()` for its status.
 *
 * @example
 * ```ts
 * const p = vm.spawn("sh", { args: ["-c", "sleep 60"] });
 * await p.kill("SIGTERM");
 * console.log(await p.wait()); // { exitCode: 143, signal: "SIGTERM" }
 * ```
 */
export class SandboxProcess {
  /** The command's pid in the guest. */
  readonly pid: Promise<number>;
  /** What the command writes to stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** What the command writes to stderr. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** The command's stdin; closing it sends end of file. */
  readonly stdin: WritableStream<Uint8Array>;
  readonly #cmd: AgentCommand;

  /** @internal Created by {@link startCommand}. */
  constructor(start: (sinks: CommandSinks) => AgentCommand) {
    // The command exists only once `start` returns; output cannot arrive before that.
    let cmd: AgentCommand | undefined;
    const out = new PacedOutput((n) => cmd?.releaseOutput(0, n));
    const err = new PacedOutput((n) => cmd?.releaseOutput(1, n));
    this.stdout = out.readable;
    this.stderr = err.readable;
    this.#cmd = cmd = start({
      stdout: (b) => out.push(b),
      stderr: (b) => err.push(b),
      paced: true,
    });
    this.#cmd.exit.then(() => {
      out.close();
      err.close();
    }, (e) => {
      out.error(e);
      err.error(e);
    });
    this.pid = this.#cmd.pid;
    const started = this.#cmd;
    this.stdin = new WritableStream({
      write: (chunk) => started.writeStdin(chunk),
      close: () => started.closeStdin(),
      abort: () => started.closeStdin(),
    });
  }

  /** Resolves with how the command ended; rejects if the VM ended first. */
  async wait(): Promise<ProcessStatus> {
    return statusOf(await this.#cmd.exit);
  }

  /** Sends a signal (default SIGTERM) to the command and what it started. */
  async kill(signal: SignalName = "SIGTERM"): Promise<void> {
    await this.#cmd.kill(signalNumber(signal));
  }
}

/**
 * Starts a streaming command ({@link MicroVm.spawn}).
 *
 * @example
 * ```ts
 * const p = startCommand(client, "cat", {});
 * ```
 */
export function startCommand(client: AgentClient, cmd: string, opts: SpawnOptions): SandboxProcess {
  return new SandboxProcess((sinks) => execCommand(client, cmd, opts, true, sinks));
}
