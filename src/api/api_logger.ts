/**
 * `PUT /logger`: denovmm's LogTape records, written as Firecracker writes its log lines, to the
 * configured file or named pipe:
 *
 * ```
 * 2024-05-01T10:00:00.123Z [anonymous-instance:main:INFO:denovmm.api] API server listening on /tmp/fc.sock
 * ```
 *
 * The level part appears with `show_level`, the origin with `show_log_origin`; denovmm's origin
 * is the logger category (LogTape records carry no source file and line). `module` keeps only
 * the records of that category and its children (`api` or `denovmm.api`; `::` works as `.`).
 * Without `log_path` the level applies to the stderr log instead.
 *
 * @module
 */

import type { LogLevel, LogRecord } from "@logtape/logtape";
import type { ExtraLogSink } from "../log.ts";
import type { LoggerConfig } from "./vm_config_types.ts";
import type { LineSink } from "./line_sink.ts";

/** Firecracker's level names to LogTape's ("Off" has none: nothing is written). */
export const LOGTAPE_LEVEL: Readonly<Record<string, LogLevel | undefined>> = {
  Error: "error",
  Warning: "warning",
  Info: "info",
  Debug: "debug",
  Trace: "trace",
  Off: undefined,
};

/** Firecracker's default level. */
export const DEFAULT_LOG_LEVEL = "Info";

const LEVEL_TAG: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "ERROR",
};

function render(r: LogRecord): string {
  let s = "";
  r.message.forEach((part, i) => {
    s += i % 2 === 0 || typeof part === "string" ? String(part) : Deno.inspect(part);
  });
  return s;
}

function moduleFilter(module: string | undefined): (category: readonly string[]) => boolean {
  if (module === undefined || module.length === 0) return () => true;
  const m = module.replaceAll("::", ".");
  const prefixes = [m, `denovmm.${m}`];
  return (category) => {
    const c = category.join(".");
    return prefixes.some((p) => c === p || c.startsWith(`${p}.`));
  };
}

/**
 * Formats one record as a Firecracker-style log line (without the newline).
 *
 * @example
 * ```ts
 * formatLogLine(record, { instanceId: "vm1", showLevel: true, showOrigin: false });
 * // "2024-05-01T10:00:00.123Z [vm1:main:INFO] Booting"
 * ```
 */
export function formatLogLine(
  r: LogRecord,
  o: { instanceId: string; showLevel: boolean; showOrigin: boolean },
): string {
  let tag = `${o.instanceId}:main`;
  if (o.showLevel) tag += `:${LEVEL_TAG[r.level]}`;
  if (o.showOrigin) tag += `:${r.category.join(".")}`;
  return `${new Date(r.timestamp).toISOString()} [${tag}] ${render(r)}`;
}

/**
 * The LogTape sink for a logger configuration writing to `file`, or undefined for level "Off".
 *
 * @example
 * ```ts
 * setExtraLogSink(apiLogSink(config, LineSink.open(config.log_path!), "anonymous-instance"));
 * ```
 */
export function apiLogSink(
  config: LoggerConfig,
  file: LineSink,
  instanceId: string,
): ExtraLogSink | undefined {
  const level = LOGTAPE_LEVEL[config.level ?? DEFAULT_LOG_LEVEL];
  if (level === undefined) return undefined;
  const keep = moduleFilter(config.module);
  const o = {
    instanceId,
    showLevel: config.show_level ?? false,
    showOrigin: config.show_log_origin ?? false,
  };
  return {
    lowestLevel: level,
    sink: (r) => {
      if (keep(r.category)) file.writeLine(formatLogLine(r, o));
    },
  };
}
