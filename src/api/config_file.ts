/**
 * `--config-file`: reads Firecracker's configuration file (the `GET /vm/config` shape: the
 * request bodies of `PUT /boot-source`, `/machine-config`, `/drives`, `/network-interfaces`,
 * `/logger` and `/metrics`, keyed by section) into a {@link VmConfig}, with errors that say
 * which file, where in it, and which field.
 *
 * @module
 */

import { reasonOf } from "../cli/host_checks.ts";
import { UsageError } from "../cli/usage_error.ts";
import { ApiError } from "./api_error.ts";
import { VmConfig } from "./vm_config.ts";

/**
 * Line and column (1-based) of character `pos` in `text`.
 *
 * @example
 * ```ts
 * lineColumn("{\n  x", 4); // { line: 2, column: 3 }
 * ```
 */
export function lineColumn(text: string, pos: number): { line: number; column: number } {
  const at = Math.max(0, Math.min(pos, text.length));
  const before = text.slice(0, at);
  return { line: before.split("\n").length, column: at - before.lastIndexOf("\n") };
}

/** Whether `JSON.parse(prefix)` fails for a reason other than the input ending early. */
function badPrefix(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return false;
  } catch (e) {
    const msg = (e as Error).message;
    if (/Unexpected end of JSON input/.test(msg)) return false;
    const pos = /at position (\d+)/.exec(msg);
    return pos === null || Number(pos[1]) < prefix.length;
  }
}

/**
 * The offset of the character where `text` stops being JSON, found by bisecting on prefixes
 * (a prefix of valid JSON is never "bad", and once a prefix is bad every longer one is):
 * V8 does not say where for every error ("Unexpected token").
 *
 * @example
 * ```ts
 * jsonErrorOffset('{"a": [,]}'); // 7
 * ```
 */
export function jsonErrorOffset(text: string): number {
  let lo = 0; // badPrefix(text.slice(0, lo)) is false
  let hi = text.length; // badPrefix(text.slice(0, hi)) is true (the caller saw it fail)
  if (!badPrefix(text)) return text.length; // it only ended early
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (badPrefix(text.slice(0, mid))) hi = mid;
    else lo = mid;
  }
  return hi - 1;
}

/**
 * Parses `text` (the contents of `file`) as a configuration, or throws a {@link UsageError}:
 * `vm.json:3:18: not valid JSON: ...` or `vm.json: drives[0]: missing field ...`.
 *
 * @example
 * ```ts
 * parseConfigFile("vm.json", '{"boot-source": {"kernel_image_path": "vmlinux"}}');
 * ```
 */
export function parseConfigFile(file: string, text: string): VmConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const { line, column } = lineColumn(text, jsonErrorOffset(text));
    // V8's message may quote the whole text and add its own position: keep the reason only.
    const reason = (e as Error).message
      .replace(/, ".*" is not valid JSON$/s, "")
      .replace(/\s*(in JSON )?at position \d+(\s*\(line \d+ column \d+\))?/, "");
    throw new UsageError(`Bad config file ${file}:${line}:${column}: not valid JSON: ${reason}`);
  }
  try {
    return VmConfig.fromJson(json);
  } catch (e) {
    if (e instanceof ApiError) throw new UsageError(`Bad config file ${file}: ${e.message}`);
    throw e;
  }
}

/**
 * Reads and parses a configuration file.
 *
 * @example
 * ```ts
 * const config = await loadConfigFile("vm.json");
 * ```
 */
export async function loadConfigFile(file: string): Promise<VmConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UsageError(`Cannot open config file ${file}: ${reasonOf(e)}`);
  }
  return parseConfigFile(file, text);
}
