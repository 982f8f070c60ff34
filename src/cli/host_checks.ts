/**
 * Checks of the user's request against the host, turned into plain {@link UsageError}s:
 * readable input files, memory that fits, a usable `/dev/kvm`.
 *
 * @module
 */

import { accessSync, constants, readFileSync } from "node:fs";
import { UsageError } from "./usage_error.ts";

/**
 * Reads a file the user named, or throws "Cannot open <what> <path>: <reason>".
 *
 * @example
 * ```ts
 * const kernel = await readUserFile("kernel", "./vmlinux");
 * ```
 */
export async function readUserFile(what: string, path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new UsageError(`Cannot open ${what} ${path}: ${reasonOf(e)}`);
  }
}

/**
 * A short, lower-case reason for a file-system error.
 *
 * @example
 * ```ts
 * reasonOf(new Deno.errors.NotFound()); // "no such file"
 * ```
 */
export function reasonOf(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return e instanceof Error ? e.message : String(e);
}

/**
 * The host's total memory in MiB (from /proc/meminfo).
 *
 * @example
 * ```ts
 * hostMemMiB(); // 24000
 * ```
 */
export function hostMemMiB(meminfo = "/proc/meminfo"): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync(meminfo, "utf8"));
  return m ? Math.floor(Number(m[1]) / 1024) : Number.MAX_SAFE_INTEGER;
}

/** Smallest guest RAM denovmm accepts, in MiB (a kernel and its initramfs must fit). */
export const MIN_MEM_MIB = 32;

/**
 * Throws when `memMiB` is below {@link MIN_MEM_MIB} or above what the host has.
 *
 * @example
 * ```ts
 * checkMemory(256);
 * ```
 */
export function checkMemory(memMiB: number, hostMiB = hostMemMiB()): void {
  if (memMiB < MIN_MEM_MIB) {
    throw new UsageError(`--mem ${memMiB} is too small: a guest needs at least ${MIN_MEM_MIB} MiB`);
  }
  if (memMiB > hostMiB) {
    throw new UsageError(`--mem ${memMiB} is more than this host has (${hostMiB} MiB)`);
  }
}

/**
 * Throws a plain explanation when `/dev/kvm` is missing or not read/write for this user.
 *
 * @example
 * ```ts
 * checkKvmAccess("/dev/kvm");
 * ```
 */
export function checkKvmAccess(path = "/dev/kvm"): void {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") {
      throw new UsageError(
        `Cannot open ${path}: no such device (KVM is not available: enable virtualization and load kvm_intel or kvm_amd)`,
      );
    }
    throw new UsageError(
      `Cannot open ${path}: ${
        reasonOf(e)
      } (denovmm needs read/write access: add your user to the kvm group)`,
    );
  }
}
