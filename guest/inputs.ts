/**
 * What the default guest is built from, and the hashes that name its cache directories: one for
 * the kernel (config fragment, patches, source tarball) and one for the whole guest (the kernel's
 * plus busybox, `/init` and any extra initramfs files).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { ETC_FILES } from "./initramfs.ts";
import { normalizeFragment, parseConfig } from "./kconfig.ts";

const HERE = new URL(".", import.meta.url).pathname;

/**
 * Bumped when the kernel build steps change in a way the inputs do not show (it is hashed).
 *
 * @example
 * ```ts
 * console.log(`kernel recipe v${KERNEL_RECIPE_VERSION}`);
 * ```
 */
export const KERNEL_RECIPE_VERSION = 2;

/**
 * Bumped when the initramfs or output layout changes in a way the inputs do not show.
 *
 * @example
 * ```ts
 * console.log(`initramfs recipe v${INITRAMFS_RECIPE_VERSION}`);
 * ```
 */
export const INITRAMFS_RECIPE_VERSION = 5;

/**
 * How the agent is compiled (hashed: a change rebuilds the guest).
 *
 * @example
 * ```ts
 * console.log(["musl-gcc", ...AGENT_CFLAGS].join(" "));
 * ```
 */
export const AGENT_CFLAGS: readonly string[] = ["-static", "-Os", "-Wall", "-Wextra", "-Werror"];

/** Where the agent goes in the guest. */
export const AGENT_GUEST_PATH = "/bin/denovmm-agent";

/** A file added to the initramfs besides busybox and `/init`. */
export interface ExtraFile {
  /** Path on the host. */
  src: string;
  /** Absolute path inside the guest, e.g. `/bin/denovmm-agent`. */
  dest: string;
  /** Permission bits, e.g. `0o755`. */
  mode: number;
}

/**
 * Extra initramfs files of the default guest, besides the agent (built from
 * {@link GuestSources.agentSource}).
 *
 * @example
 * ```ts
 * const withAgent = [...EXTRA_FILES, { src: "agent/out/agent", dest: "/bin/agent", mode: 0o755 }];
 * ```
 */
export const EXTRA_FILES: readonly ExtraFile[] = [];

/** Where each input of a guest build is. */
export interface GuestSources {
  /** Kernel config fragment merged over `allnoconfig`. */
  fragment: string;
  /** Directory of `*.patch` files, applied in name order with `patch -p1`. */
  patchDir: string;
  /** The initramfs `/init` script. */
  initScript: string;
  /** Debian `linux-source-6.1`'s tarball. */
  linuxTarball: string;
  /** A statically linked busybox (Debian `busybox-static`). */
  busybox: string;
  /** Files added to the initramfs. */
  extraFiles: readonly ExtraFile[];
  /** C source of the guest agent, compiled statically into `/bin/denovmm-agent` (none if unset). */
  agentSource?: string;
}

/**
 * The default guest's inputs: the files in `guest/` and Debian's packages.
 *
 * @example
 * ```ts
 * console.log(DEFAULT_SOURCES.linuxTarball); // "/usr/src/linux-source-6.1.tar.xz"
 * ```
 */
export const DEFAULT_SOURCES: GuestSources = {
  fragment: `${HERE}kernel.config`,
  patchDir: `${HERE}patches`,
  initScript: `${HERE}init.sh`,
  linuxTarball: "/usr/src/linux-source-6.1.tar.xz",
  busybox: "/bin/busybox",
  extraFiles: EXTRA_FILES,
  agentSource: `${HERE}agent/agent.c`,
};

/** One hashed input: a label (saying what it is) and the bytes that stand for it. */
export interface HashInput {
  label: string;
  data: string | Uint8Array;
}

/**
 * The patch files of `dir`, full paths, in the order they are applied (by name).
 *
 * @example
 * ```ts
 * patchFiles("guest/patches"); // ["guest/patches/0001-skip-int3-selftest.patch", ...]
 * ```
 */
export function patchFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(".patch")).sort().map((f) => `${dir}/${f}`);
}

/**
 * Hashes inputs (order matters) to the 16 hex digits that name a cache directory.
 *
 * @example
 * ```ts
 * hashInputs([{ label: "fragment", data: "CONFIG_SMP=y\n" }]); // e.g. "3f0c9a1b2d4e5f60"
 * ```
 */
export function hashInputs(inputs: readonly HashInput[]): string {
  const h = createHash("sha256");
  for (const { label, data } of inputs) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    // Lengths keep ("ab","c") and ("a","bc") apart.
    h.update(`${label.length}:${label}:${bytes.length}:`).update(bytes);
  }
  return h.digest("hex").slice(0, 16);
}

/** A large host file stands for itself by path, size and mtime: reading 140 MB every run is slow. */
function stamp(path: string): string {
  if (!existsSync(path)) return `${path}:missing`;
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

function contents(path: string): Uint8Array | string {
  return existsSync(path) ? readFileSync(path) : `missing:${path}`;
}

/**
 * The kernel's inputs. The fragment counts by its options only, so editing its comments does not
 * rebuild the kernel.
 *
 * @example
 * ```ts
 * kernelInputs().map((i) => i.label); // ["recipe", "fragment", "patch 0001-...", ..., "source"]
 * ```
 */
export function kernelInputs(src: GuestSources = DEFAULT_SOURCES): HashInput[] {
  return [
    { label: "recipe", data: `kernel-v${KERNEL_RECIPE_VERSION}` },
    { label: "fragment", data: normalizeFragment(parseConfig(String(contents(src.fragment)))) },
    ...patchFiles(src.patchDir).map((p) => ({
      label: `patch ${p.split("/").pop()}`,
      data: contents(p),
    })),
    { label: "source", data: stamp(src.linuxTarball) },
  ];
}

/**
 * The whole guest's inputs: the kernel's hash, busybox, `/init`, `/etc` and the extra files.
 *
 * @example
 * ```ts
 * guestInputs().map((i) => i.label); // ["recipe", "kernel", "busybox", "init", "etc"]
 * ```
 */
export function guestInputs(src: GuestSources = DEFAULT_SOURCES): HashInput[] {
  return [
    { label: "recipe", data: `initramfs-v${INITRAMFS_RECIPE_VERSION}` },
    { label: "kernel", data: kernelHash(src) },
    { label: "busybox", data: stamp(src.busybox) },
    { label: "init", data: contents(src.initScript) },
    { label: "etc", data: JSON.stringify(ETC_FILES) },
    ...src.extraFiles.map((e) => ({
      label: `extra ${e.dest} ${e.mode.toString(8)}`,
      data: contents(e.src),
    })),
    ...(src.agentSource === undefined
      ? []
      : [{ label: `agent ${AGENT_CFLAGS.join(" ")}`, data: contents(src.agentSource) }]),
  ];
}

/**
 * The hash naming the kernel work directory (`build/linux-6.1-<hash>`).
 *
 * @example
 * ```ts
 * kernelHash(); // e.g. "52a6b76bcf82537a"
 * ```
 */
export function kernelHash(src: GuestSources = DEFAULT_SOURCES): string {
  return hashInputs(kernelInputs(src));
}

/**
 * The hash naming the finished guest's directory (`guest/<hash>`).
 *
 * @example
 * ```ts
 * guestHash(); // e.g. "313202f94c039752"
 * ```
 */
export function guestHash(src: GuestSources = DEFAULT_SOURCES): string {
  return hashInputs(guestInputs(src));
}
