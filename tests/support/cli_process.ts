/**
 * Runs the `denovmm` CLI as a child process, the way a user does, and collects what it printed;
 * plus the check every bad-input test makes (one plain line on stderr, no stack trace).
 *
 * @module
 */

import assert from "node:assert/strict";

const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** What a finished `denovmm` process printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Where and for how long {@link denovmm} runs. */
export interface CliOptions {
  /** Working directory of the child (default: this process's). */
  cwd?: string;
  /** Kill the child with SIGKILL after this long (default: never). */
  timeoutMs?: number;
}

/**
 * The `denovmm ARGS...` child process, not yet started, with stdout and stderr piped.
 *
 * @example `const child = denovmmCommand(["api", "--api-sock", sock], { stdin: "piped" }).spawn();`
 */
export function denovmmCommand(
  args: string[],
  opts: { cwd?: string; stdin: "null" | "piped" },
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-ffi", main, ...args],
    cwd: opts.cwd,
    stdin: opts.stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * Runs `denovmm ARGS...` with stdin closed and waits for it to end.
 *
 * @example
 * ```ts
 * const r = await denovmm(["run", "--kernel", "/nonexistent"]);
 * ```
 */
export async function denovmm(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  const t0 = performance.now();
  const child = denovmmCommand(args, { cwd: opts.cwd, stdin: "null" }).spawn();
  const timer = opts.timeoutMs === undefined
    ? undefined
    : setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms: performance.now() - t0,
  };
}

/**
 * Boots with `args` (after `denovmm run`) and waits for the process to end, killing it after
 * `timeoutMs`.
 *
 * @example
 * ```ts
 * const r = await runCli(["--", "echo", "hi"], 300_000);
 * ```
 */
export function runCli(args: string[], timeoutMs: number): Promise<CliRun> {
  return denovmm(["run", ...args], { timeoutMs });
}

/**
 * Asserts `stderr` is one line matching `re`, with no stack trace in it.
 *
 * @example `assertOneLine(r.stderr, /^denovmm: Cannot open kernel/);`
 */
export function assertOneLine(stderr: string, re: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], re);
  assert.doesNotMatch(stderr, /\bat .*\.ts:\d+/);
}
