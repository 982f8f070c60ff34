/**
 * Compiles the guest agent (guest/agent/agent.c) into a static binary for the initramfs.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { AGENT_CFLAGS } from "./inputs.ts";
import { runLogged } from "./run_logged.ts";

/**
 * Builds `source` with musl-gcc into `${outDir}/denovmm-agent` and returns that path. The guest
 * has no libc, so the binary is static; musl keeps it small (tens of KiB), which matters where the
 * kernel unpacks the initramfs emulated.
 *
 * @example
 * ```ts
 * const bin = await buildAgent("guest/agent/agent.c", "/tmp/agent", "/tmp/agent/build.log");
 * ```
 */
export async function buildAgent(source: string, outDir: string, log: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const out = `${outDir}/denovmm-agent`;
  await runLogged("musl-gcc", [...AGENT_CFLAGS, "-o", out, source], { log });
  return out;
}
