/**
 * Logging for denovmm: LogTape loggers under the `denovmm` category, written to stderr so the
 * guest console on stdout stays clean.
 *
 * @module
 */

import {
  configureSync,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** Levels accepted by `--log-level`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

const encoder = new TextEncoder();
const format = getTextFormatter({ timestamp: "time", category: "." });
let configured = false;

/**
 * Sends denovmm's log records at `level` and above to stderr. Safe to call again (the last
 * call wins). Libraries embedding denovmm may skip it and configure LogTape themselves.
 *
 * @example
 * ```ts
 * setupLogging("debug");
 * ```
 */
export function setupLogging(level: LogLevel): void {
  if (configured) resetSync();
  configureSync({
    sinks: {
      stderr: (r: LogRecord) => {
        Deno.stderr.writeSync(encoder.encode(format(r)));
      },
    },
    loggers: [
      { category: ["denovmm"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
  configured = true;
}

/**
 * A logger under `denovmm.<name>`.
 *
 * @example
 * ```ts
 * const log = logger("vm");
 * log.info(`Booting ${kernel}`);
 * ```
 */
export function logger(...name: string[]): Logger {
  return getLogger(["denovmm", ...name]);
}
