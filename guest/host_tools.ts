/**
 * Checks that the host can build the guest, and names the Debian packages to install when not.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { elfFacts } from "./elf_facts.ts";
import type { GuestSources } from "./inputs.ts";

/**
 * Commands the build runs, each with the Debian package that provides it.
 *
 * @example
 * ```ts
 * REQUIRED_COMMANDS.find(([cmd]) => cmd === "xz"); // ["xz", "xz-utils"]
 * ```
 */
export const REQUIRED_COMMANDS: readonly (readonly [string, string])[] = [
  ["make", "make"],
  ["gcc", "gcc"],
  ["musl-gcc", "musl-tools"],
  ["flex", "flex"],
  ["bison", "bison"],
  ["bc", "bc"],
  ["perl", "perl"],
  ["tar", "tar"],
  ["xz", "xz-utils"],
  ["patch", "patch"],
  ["cpio", "cpio"],
  ["gzip", "gzip"],
  ["mke2fs", "e2fsprogs"],
];

/**
 * Header files the kernel build needs (objtool links libelf), with their Debian packages.
 *
 * @example
 * ```ts
 * REQUIRED_HEADERS[0]; // ["/usr/include/libelf.h", "libelf-dev"]
 * ```
 */
export const REQUIRED_HEADERS: readonly (readonly [string, string])[] = [
  ["/usr/include/libelf.h", "libelf-dev"],
  ["/usr/include/stdio.h", "libc6-dev"],
];

/** How {@link missingPackages} looks at the host (replaceable in tests). */
export interface HostProbe {
  hasCommand(name: string): boolean;
  exists(path: string): boolean;
  /** The file's bytes, for the static-busybox check. */
  read(path: string): Uint8Array;
}

function onPath(name: string): boolean {
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":");
  return dirs.some((d) => d.length > 0 && existsSync(`${d}/${name}`));
}

/**
 * Looks at the real host.
 *
 * @example
 * ```ts
 * REAL_HOST.hasCommand("make"); // true on a build host
 * ```
 */
export const REAL_HOST: HostProbe = {
  hasCommand: onPath,
  exists: existsSync,
  read: (p) => readFileSync(p),
};

/**
 * The Debian packages to install before the guest can be built (empty when none are missing),
 * plus notes for problems a package name alone does not explain.
 *
 * @example
 * ```ts
 * const { packages } = missingPackages(DEFAULT_SOURCES, REAL_HOST);
 * if (packages.length > 0) console.error(`apt-get install ${packages.join(" ")}`);
 * ```
 */
export function missingPackages(
  src: GuestSources,
  host: HostProbe,
): { packages: string[]; notes: string[] } {
  const packages = new Set<string>();
  const notes: string[] = [];
  for (const [cmd, pkg] of REQUIRED_COMMANDS) if (!host.hasCommand(cmd)) packages.add(pkg);
  for (const [path, pkg] of REQUIRED_HEADERS) if (!host.exists(path)) packages.add(pkg);
  if (!host.exists(src.linuxTarball)) packages.add("linux-source-6.1");
  if (!host.exists(src.busybox)) {
    packages.add("busybox-static");
  } else {
    try {
      if (elfFacts(host.read(src.busybox)).dynamic) {
        packages.add("busybox-static");
        notes.push(
          `${src.busybox} is dynamically linked (Debian's busybox package); the initramfs has no libc, so it needs busybox-static`,
        );
      }
    } catch (e) {
      notes.push(`${src.busybox} is not a usable busybox: ${(e as Error).message}`);
    }
  }
  return { packages: [...packages], notes };
}

/**
 * Throws an Error saying what to install when the host cannot build the guest.
 *
 * @example
 * ```ts
 * checkHost(DEFAULT_SOURCES); // throws "Building the guest needs: apt-get install bison flex"
 * ```
 */
export function checkHost(src: GuestSources, host: HostProbe = REAL_HOST): void {
  const { packages, notes } = missingPackages(src, host);
  if (packages.length === 0 && notes.length === 0) return;
  const lines = [];
  if (packages.length > 0) {
    lines.push(`Building the guest needs: apt-get install ${packages.join(" ")}`);
  }
  throw new Error([...lines, ...notes].join("\n"));
}
