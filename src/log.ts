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
let stderrLevel: LogLevel | undefined;
let extra: ExtraLogSink | undefined;

/**
 * A second destination for denovmm's log records (the API's `PUT /logger` file), with its own
 * lowest level.
 *
 * @example
 * ```ts
 * const s: ExtraLogSink = { sink: (r) => file.writeLine(String(r.message)), lowestLevel: "debug" };
 * ```
 */
export interface ExtraLogSink {
  sink: (record: LogRecord) => void;
  lowestLevel: LogLevel;
}

const rank = (l: LogLevel) => LOG_LEVELS.indexOf(l);

function apply(): void {
  if (configured) resetSync();
  configured = false;
  if (stderrLevel === undefined && extra === undefined) return;
  const levels = [stderrLevel, extra?.lowestLevel].filter((l): l is LogLevel => l !== undefined);
  const lowest = levels.reduce((a, b) => (rank(a) <= rank(b) ? a : b));
  const toStderr = stderrLevel;
  const file = extra;
  configureSync({
    sinks: {
      stderr: (r: LogRecord) => {
        if (toStderr !== undefined && rank(r.level) >= rank(toStderr)) {
          Deno.stderr.writeSync(encoder.encode(format(r)));
        }
      },
      extra: (r: LogRecord) => {
        if (file !== undefined && rank(r.level) >= rank(file.lowestLevel)) file.sink(r);
      },
    },
    loggers: [
      { category: ["denovmm"], lowestLevel: lowest, sinks: ["stderr", "extra"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
  configured = true;
}

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
  stderrLevel = level;
  apply();
}

/**
 * Adds (or, with undefined, removes) a second log destination next to stderr. Without an earlier
 * {@link setupLogging}, only that destination gets records, and removing it leaves LogTape as it
 * was (unconfigured).
 *
 * @example
 * ```ts
 * setExtraLogSink({ sink: (r) => lines.push(r), lowestLevel: "info" });
 * setExtraLogSink(undefined);
 * ```
 */
export function setExtraLogSink(sink: ExtraLogSink | undefined): void {
  extra = sink;
  apply();
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
