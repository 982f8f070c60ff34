/**
 * Runs build commands with their output appended to a log file; a failure throws with the log's
 * last lines, so it says why without flooding the terminal.
 *
 * @module
 */

import { appendFileSync, closeSync, fstatSync, openSync, readSync } from "node:fs";

/** A build step that failed; the message ends with the tail of the log. */
export class BuildStepError extends Error {
  override name = "BuildStepError";
}

/**
 * The last `lines` lines of a log file (reads at most its last 64 KiB).
 *
 * @example
 * ```ts
 * console.error(logTail("/root/.cache/denovmm/build/linux-6.1-0123456789abcdef/build.log", 30));
 * ```
 */
export function logTail(log: string, lines: number): string {
  let fd: number;
  try {
    fd = openSync(log, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(size, 65536);
    const buf = new Uint8Array(want);
    readSync(fd, buf, 0, want, size - want);
    const text = new TextDecoder().decode(buf).replace(/\n+$/, "");
    return text.split("\n").slice(-lines).join("\n");
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `cmd args` (in `cwd`, with `env` added), its stdout and stderr appended to `log` as they
 * come. Throws a {@link BuildStepError} with the log's tail when it fails.
 *
 * @example
 * ```ts
 * await runLogged("make", ["-j2", "vmlinux"], { cwd: src, log: `${dir}/build.log` });
 * ```
 */
export async function runLogged(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; log: string; env?: Record<string, string> },
): Promise<void> {
  appendFileSync(o.log, `\n$ ${[cmd, ...args].join(" ")}\n`);
  // The shell does the redirection: output goes straight to the file as the command runs, with
  // no pipe for this process to drain.
  const child = new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", o.log, cmd, ...args],
    cwd: o.cwd,
    env: o.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const status = await child.status;
  if (!status.success) {
    throw new BuildStepError(
      `\`${[cmd, ...args].join(" ")}\` failed (exit ${status.code}); the end of ${o.log}:\n` +
        logTail(o.log, 30),
    );
  }
}
