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
  o: { cwd?: string; log: string; env?: Record<string, string> },
): Promise<void> {
  appendFileSync(o.log, `\n$ ${cmd} ${args.join(" ")}\n`);
  // One handle per stream: a WritableStream takes a single writer.
  const out = await Deno.open(o.log, { append: true, write: true });
  const err = await Deno.open(o.log, { append: true, write: true });
  try {
    const child = new Deno.Command(cmd, {
      args,
      cwd: o.cwd,
      env: o.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await Promise.all([
      child.stdout.pipeTo(out.writable),
      child.stderr.pipeTo(err.writable),
    ]);
    const status = await child.status;
    if (!status.success) {
      const tail = readFileSync(o.log, "utf8").split("\n").slice(-25).join("\n");
      throw new Error(
        `${cmd} ${args.join(" ")} failed (exit ${status.code}); end of ${o.log}:\n${tail}`,
      );
    }
  } finally {
    for (const f of [out, err]) {
      try {
        f.close();
      } catch { /* already closed by pipeTo */ }
    }
  }
}
