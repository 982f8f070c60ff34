/**
 * The options and results of running commands in a sandbox.
 *
 * @module
 */

/** How a guest command is started. */
export interface SpawnOptions {
  /** Arguments after the program name. */
  args?: string[];
  /** Environment on top of the guest default (`PATH`, `HOME=/root`). */
  env?: Record<string, string>;
  /** Working directory (default `/root`). */
  cwd?: string;
}

/** How {@link MicroVm.run} runs a command. */
export interface RunOptions extends SpawnOptions {
  /** stdin for the command (default: none, it reads end of file at once). */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Kill the command (SIGKILL to its process group) and reject after this long. */
  timeoutMs?: number;
  /** Each chunk of stdout, as it arrives (it is also in the result). */
  onStdout?: (chunk: Uint8Array) => void;
  /** Each chunk of stderr, as it arrives (it is also in the result). */
  onStderr?: (chunk: Uint8Array) => void;
}

/** How a command ended. */
export interface ProcessStatus {
  /** The exit status, or 128 + the signal number when a signal ended it (as shells report). */
  exitCode: number;
  /** The signal that ended it (`"SIGKILL"`), or null when it exited. */
  signal: string | null;
}

/** What {@link MicroVm.run} returns. */
export interface RunResult extends ProcessStatus {
  /** stdout as UTF-8 text. */
  stdout: string;
  /** stderr as UTF-8 text. */
  stderr: string;
  /** stdout byte for byte. */
  stdoutBytes: Uint8Array;
  /** stderr byte for byte. */
  stderrBytes: Uint8Array;
}

/** A command outlived its `timeoutMs`: it was killed; the output up to then is in `result`. */
export class CommandTimeoutError extends Error {
  /** What the command had printed, and how it ended once killed. */
  readonly result: RunResult;
  /** @example `throw new CommandTimeoutError("sleep 10", 500, result)` */
  constructor(label: string, timeoutMs: number, result: RunResult) {
    super(`\`${label}\` did not finish within ${timeoutMs} ms: it was killed (SIGKILL)`);
    this.name = "CommandTimeoutError";
    this.result = result;
  }
}
