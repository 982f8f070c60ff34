/**
 * Builds the default denovmm guest from Debian packages: a kernel from `linux-source-6.1` with
 * {@link KERNEL_FRAGMENT} and the patches in `guest/patches/`, and a busybox initramfs whose
 * /init is `guest/init.sh`. Results are cached outside the repository under
 * `${XDG_CACHE_HOME:-~/.cache}/denovmm/guest/<hash>/`, keyed by a hash of every input.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";

const HERE = new URL(".", import.meta.url).pathname;
/** Bumped when the build steps change in a way the inputs do not show. */
export const BUILD_SCRIPT_VERSION = 1;
/** The kernel source tarball from Debian's `linux-source-6.1`. */
export const LINUX_TARBALL = "/usr/src/linux-source-6.1.tar.xz";
/** Busybox from Debian's `busybox-static`. */
export const BUSYBOX = "/bin/busybox";
/** The config fragment. */
export const KERNEL_FRAGMENT = `${HERE}kernel.config`;
/** The /init script. */
export const INIT_SCRIPT = `${HERE}init.sh`;
/** The patch directory. */
export const PATCH_DIR = `${HERE}patches`;

/** A file added to the initramfs (later issues add the guest agent here). */
export interface ExtraFile {
  /** Host path. */
  src: string;
  /** Path inside the guest. */
  dest: string;
  mode: number;
}

/** Files added to the initramfs besides busybox and /init. */
export const EXTRA_FILES: ExtraFile[] = [];

/** Paths of a built guest. */
export interface GuestPaths {
  /** Uncompressed ELF kernel (the default boot image). */
  kernel: string;
  bzImage: string;
  initrd: string;
  systemMap: string;
  dir: string;
}

/** Progress callback. */
export type Progress = (line: string) => void;

/**
 * The cache root (`$XDG_CACHE_HOME/denovmm` or `~/.cache/denovmm`).
 *
 * @example
 * ```ts
 * cacheRoot(); // "/root/.cache/denovmm"
 * ```
 */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return `${xdg && xdg.length > 0 ? xdg : `${Deno.env.get("HOME") ?? "/tmp"}/.cache`}/denovmm`;
}

function patchFiles(): string[] {
  return existsSync(PATCH_DIR)
    ? readdirSync(PATCH_DIR).filter((f) => f.endsWith(".patch")).sort()
    : [];
}

function fileStamp(path: string): string {
  if (!existsSync(path)) return `${path}:missing`;
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

/**
 * Hashes inputs: text of the listed files plus stamps (path, size, mtime) of large host files.
 *
 * @example
 * ```ts
 * hashInputs({ files: ["a.txt"], stamps: ["/usr/src/x.tar.xz"], extra: "v1" });
 * ```
 */
export function hashInputs(o: { files: string[]; stamps: string[]; extra: string }): string {
  const h = createHash("sha256");
  for (const f of o.files) h.update(`${f.split("/").pop()}\0`).update(readFileSync(f)).update("\0");
  for (const s of o.stamps) h.update(fileStamp(s)).update("\0");
  h.update(o.extra);
  return h.digest("hex").slice(0, 16);
}

/** Hash of what the kernel build depends on. */
export function kernelHash(): string {
  return hashInputs({
    files: [KERNEL_FRAGMENT, ...patchFiles().map((p) => `${PATCH_DIR}/${p}`)],
    stamps: [LINUX_TARBALL],
    extra: `kernel-v${BUILD_SCRIPT_VERSION}`,
  });
}

/** Hash of the whole guest (kernel and initramfs). */
export function guestHash(extras: ExtraFile[] = EXTRA_FILES): string {
  return hashInputs({
    files: [INIT_SCRIPT],
    stamps: [BUSYBOX, ...extras.map((e) => e.src)],
    extra: `${kernelHash()}:${extras.map((e) => `${e.dest}:${e.mode}`).join(",")}`,
  });
}

/**
 * Parses a config fragment into option → value ("y", "n", a number or a quoted string).
 *
 * @example
 * ```ts
 * parseFragment("CONFIG_SMP=y\n# comment\nCONFIG_PCI=n").get("CONFIG_PCI"); // "n"
 * ```
 */
export function parseFragment(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Options of the fragment that did not end up in the final `.config` (options set to `n` must
 * be absent or "is not set").
 *
 * @example
 * ```ts
 * verifyConfig(parseFragment("CONFIG_SMP=y"), "CONFIG_SMP=y\n"); // []
 * ```
 */
export function verifyConfig(fragment: Map<string, string>, dotConfig: string): string[] {
  const actual = parseFragment(dotConfig);
  const missing: string[] = [];
  for (const [key, want] of fragment) {
    const got = actual.get(key);
    if (want === "n" ? got !== undefined && got !== "n" : got !== want) {
      missing.push(`${key}=${want} (got ${got ?? "unset"})`);
    }
  }
  return missing;
}

/**
 * The cached guest for the current inputs, if it was built.
 *
 * @example
 * ```ts
 * const g = findCachedGuest();
 * ```
 */
export function findCachedGuest(): GuestPaths | undefined {
  const dir = `${cacheRoot()}/guest/${guestHash()}`;
  return existsSync(`${dir}/manifest.json`) ? pathsIn(dir) : undefined;
}

function pathsIn(dir: string): GuestPaths {
  return {
    kernel: `${dir}/vmlinux`,
    bzImage: `${dir}/bzImage`,
    initrd: `${dir}/initramfs.cpio.gz`,
    systemMap: `${dir}/System.map`,
    dir,
  };
}

/** Host tools the build needs, with the Debian package that has each. */
export const REQUIRED_TOOLS: [string, string][] = [
  ["make", "make"],
  ["gcc", "gcc"],
  ["flex", "flex"],
  ["bison", "bison"],
  ["bc", "bc"],
  ["cpio", "cpio"],
  ["xz", "xz-utils"],
  ["perl", "perl"],
  ["patch", "patch"],
  ["gzip", "gzip"],
];

async function which(tool: string): Promise<boolean> {
  const r = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
    stderr: "null",
  })
    .output();
  return r.success;
}

/**
 * Throws a plain message naming the apt packages to install when a build input is missing.
 *
 * @example
 * ```ts
 * await checkHostTools();
 * ```
 */
export async function checkHostTools(): Promise<void> {
  const missing: string[] = [];
  for (const [tool, pkg] of REQUIRED_TOOLS) if (!(await which(tool))) missing.push(pkg);
  if (!existsSync(LINUX_TARBALL)) missing.push("linux-source-6.1");
  if (!existsSync(BUSYBOX)) missing.push("busybox-static");
  if (!existsSync("/usr/include/libelf.h")) missing.push("libelf-dev");
  if (!existsSync("/usr/include/openssl/opensslv.h")) missing.push("libssl-dev");
  if (missing.length > 0) {
    throw new Error(`Building the guest needs: apt-get install ${[...new Set(missing)].join(" ")}`);
  }
}
