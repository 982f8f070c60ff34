/**
 * {@link MicroVm.run}: one command, its output collected, a timeout enforced.
 *
 * @module
 */

import type { AgentClient } from "../agent/client.ts";
import { SIGNALS } from "../agent/signals.ts";
import { execCommand, statusOf } from "./sandbox_process.ts";
import { CommandTimeoutError, type RunOptions, type RunResult } from "./run_types.ts";

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

async function feed(
  cmd: { writeStdin(b: Uint8Array): Promise<void>; closeStdin(): Promise<void> },
  stdin: NonNullable<RunOptions["stdin"]>,
): Promise<void> {
  if (stdin instanceof ReadableStream) {
    for await (const chunk of stdin) await cmd.writeStdin(chunk);
  } else {
    await cmd.writeStdin(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
  }
  await cmd.closeStdin();
}

/**
 * Runs `cmd` to the end and returns its status and output.
 *
 * @example
 * ```ts
 * const r = await runCommand(client, "echo", { args: ["hi"] }); // r.stdout === "hi\n"
 * ```
 */
export async function runCommand(
  client: AgentClient,
  cmd: string,
  opts: RunOptions,
): Promise<RunResult> {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const c = execCommand(client, cmd, opts, opts.stdin !== undefined, {
    stdout: (b) => (out.push(b), opts.onStdout?.(b)),
    stderr: (b) => (err.push(b), opts.onStderr?.(b)),
  });
  // A command that exits without reading all its stdin ends the feed; that is not an error.
  const feeding = opts.stdin === undefined ? undefined : feed(c, opts.stdin).catch(() => {});
  let timedOut = false;
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    c.kill(SIGNALS.SIGKILL).catch(() => {});
  }, opts.timeoutMs);
  try {
    const status = statusOf(await c.exit);
    await feeding;
    const stdoutBytes = join(out);
    const stderrBytes = join(err);
    const dec = new TextDecoder();
    const result = {
      ...status,
      stdout: dec.decode(stdoutBytes),
      stderr: dec.decode(stderrBytes),
      stdoutBytes,
      stderrBytes,
    };
    if (timedOut) {
      throw new CommandTimeoutError([cmd, ...(opts.args ?? [])].join(" "), opts.timeoutMs!, result);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}
