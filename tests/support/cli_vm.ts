/**
 * Runs `denovmm run` as a child process, the way a user does, and collects what it printed.
 *
 * @module
 */

const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** What a finished `denovmm run` printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
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
export async function runCli(args: string[], timeoutMs: number): Promise<CliRun> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-ffi", main, "run", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
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
