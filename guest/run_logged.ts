/**
 * Runs a build command with its output appended to a log file; on failure throws with the log's
 * last lines, so a failed build says why without flooding the terminal.
 *
 * @module
 */

import { appendFileSync, readFileSync } from "node:fs";

/**
 * Runs `cmd args` in `cwd`, logging to `log`.
 *
 * @example
 * ```ts
 * await runLogged("make", ["-j2", "vmlinux"], { cwd: src, log: `${dir}/build.log` });
 * ```
 */
export async function runLogged(
  cmd: string,
  args: string[],
  o: { cwd?: string; log: string },
): Promise<void> {
  appendFileSync(o.log, `\n$ ${cmd} ${args.join(" ")}\n`);
  // The shell does the redirection: the log is written as the command runs, with no pipe for
  // this process to drain.
  const status = await new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", o.log, cmd, ...args],
    cwd: o.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn().status;
  if (!status.success) {
    const tail = readFileSync(o.log, "utf8").split("\n").slice(-25).join("\n");
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${status.code}); end of ${o.log}:\n${tail}`,
    );
  }
}
