/**
 * Builds the default denovmm guest from Debian packages and caches it outside the repository:
 * `${XDG_CACHE_HOME:-~/.cache}/denovmm/guest/<guest hash>/` holds `vmlinux`, `bzImage`,
 * `initramfs.cpio` (and `.cpio.gz`), `rootfs.ext4`, `System.map` and, written last, `manifest.json`; the
 * kernel's work tree is `.../denovmm/build/linux-6.1-<kernel hash>/` and is reused by later runs.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { buildAgent } from "./agent_build.ts";
import { withBuildLock } from "./build_lock.ts";
import { elfFacts } from "./elf_facts.ts";
import { checkHost } from "./host_tools.ts";
import { packInitramfs } from "./initramfs.ts";
import { packRootfs } from "./rootfs.ts";
import {
  AGENT_GUEST_PATH,
  DEFAULT_SOURCES,
  guestHash,
  guestInputs,
  type GuestSources,
  type HashInput,
  hashInputs,
  kernelHash,
  kernelInputs,
} from "./inputs.ts";
import { buildKernel } from "./kernel_build.ts";

/** Paths of a built guest. */
export interface GuestPaths {
  /** Uncompressed ELF `vmlinux` with a PVH entry: the default boot image. */
  kernel: string;
  /** The same kernel as a bzImage. */
  bzImage: string;
  /**
   * `initramfs.cpio`: busybox, `/init` and any extra files, uncompressed. On kvm_pvm hosts the
   * kernel's gunzip runs emulated: the plain archive unpacks in ~16 s where the gzipped one takes
   * ~75 s (measured with this guest), for twice the bytes to load.
   */
  initrd: string;
  /** The same archive gzipped (`initramfs.cpio.gz`), for hosts where unpacking is cheap. */
  initrdGz: string;
  /** The same tree as an ext4 image (`rootfs.ext4`) to boot as a root drive (see rootfs.ts). */
  rootfs: string;
  /** The kernel's symbol table, for looking up addresses in guest crashes. */
  systemMap: string;
  /** The directory holding all of the above and `manifest.json`. */
  dir: string;
}

/** Receives one human-readable progress line at a time. */
export type Progress = (line: string) => void;

/** Options of {@link buildGuest}. */
export interface BuildOptions {
  /** Rebuild from a fresh source tree even when a build of the same inputs exists. */
  force?: boolean;
  onProgress?: Progress;
  /** Inputs; {@link DEFAULT_SOURCES} unless a test says otherwise. */
  sources?: GuestSources;
  /** Cache root; {@link cacheRoot} by default. */
  cacheDir?: string;
}

const MANIFEST = "manifest.json";

/**
 * The cache root: `$XDG_CACHE_HOME/denovmm`, else `$HOME/.cache/denovmm`.
 *
 * @example
 * ```ts
 * cacheRoot(); // "/root/.cache/denovmm"
 * ```
 */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const base = xdg && xdg.length > 0 ? xdg : `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/denovmm`;
}

/**
 * The paths of the guest in `dir` (whether or not it is built).
 *
 * @example
 * ```ts
 * guestPathsIn("/root/.cache/denovmm/guest/0123456789abcdef").initrd;
 * // "/root/.cache/denovmm/guest/0123456789abcdef/initramfs.cpio"
 * ```
 */
export function guestPathsIn(dir: string): GuestPaths {
  return {
    kernel: `${dir}/vmlinux`,
    bzImage: `${dir}/bzImage`,
    initrd: `${dir}/initramfs.cpio`,
    initrdGz: `${dir}/initramfs.cpio.gz`,
    rootfs: `${dir}/rootfs.ext4`,
    systemMap: `${dir}/System.map`,
    dir,
  };
}

/**
 * The finished guest for the current inputs, or undefined when it is not built. A directory
 * without `manifest.json` is an unfinished build and does not count.
 *
 * @example
 * ```ts
 * const g = findCachedGuest();
 * if (g === undefined) console.error("run `deno task guest` first");
 * ```
 */
export function findCachedGuest(
  sources: GuestSources = DEFAULT_SOURCES,
  root: string = cacheRoot(),
): GuestPaths | undefined {
  const dir = `${root}/guest/${guestHash(sources)}`;
  return existsSync(`${dir}/${MANIFEST}`) ? guestPathsIn(dir) : undefined;
}

/**
 * Builds the guest for the current inputs (or returns the cached one unless `force`), one build
 * at a time per cache. Throws with the reason (missing apt packages, an option that did not
 * stick, the tail of the build log) when it cannot.
 *
 * @example
 * ```ts
 * const g = await buildGuest({ onProgress: (l) => console.error(l) });
 * console.log(g.kernel, g.initrd);
 * ```
 */
export async function buildGuest(opts: BuildOptions = {}): Promise<GuestPaths> {
  const src = opts.sources ?? DEFAULT_SOURCES;
  const root = opts.cacheDir ?? cacheRoot();
  const progress = opts.onProgress ?? ((l: string) => console.error(l));
  checkHost(src);
  const lock = `${root}/build/.lock`;
  const onWait = () => progress(`[guest] waiting for another guest build to finish (${lock})...`);
  return await withBuildLock(lock, onWait, async () => {
    // Another process may have finished the same build while this one waited.
    const cached = opts.force ? undefined : findCachedGuest(src, root);
    if (cached) return cached;
    return await buildLocked(src, root, opts.force ?? false, progress);
  });
}

async function buildLocked(
  src: GuestSources,
  root: string,
  force: boolean,
  progress: Progress,
): Promise<GuestPaths> {
  const t0 = performance.now();
  const hash = guestHash(src);
  const kHash = kernelHash(src);
  const workName = `linux-6.1-${kHash}`;
  const workDir = `${root}/build/${workName}`;
  mkdirSync(workDir, { recursive: true });
  progress(`[guest] building guest ${hash} (kernel ${kHash}) under ${root}`);

  const kernel = await buildKernel({ src, workDir, force, progress });
  const facts = elfFacts(readFileSync(kernel.vmlinux));
  if (facts.pvhEntry === undefined) {
    throw new Error(`${kernel.vmlinux} has no PVH entry note: is CONFIG_PVH on?`);
  }

  // Everything goes to <hash>.tmp first and is renamed at the end: a directory named <hash> is
  // always complete, and manifest.json is the last file written into it.
  const outDir = `${root}/guest/${hash}`;
  const tmp = `${outDir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const extraFiles = [...src.extraFiles];
  if (src.agentSource !== undefined) {
    progress("[guest] compiling the guest agent (musl-gcc -static)...");
    const bin = await buildAgent(
      src.agentSource,
      `${root}/build/agent-${hash}`,
      `${workDir}/build.log`,
    );
    extraFiles.push({ src: bin, dest: AGENT_GUEST_PATH, mode: 0o755 });
  }
  progress("[guest] packing the initramfs (busybox, /init, the agent)...");
  const staging = `${root}/build/initramfs-${hash}`;
  await packInitramfs({ ...src, extraFiles }, {
    staging,
    out: `${tmp}/initramfs.cpio`,
    log: `${workDir}/build.log`,
  });
  progress("[guest] packing rootfs.ext4 (the same tree as an ext4 root drive)...");
  await packRootfs({ staging, out: `${tmp}/rootfs.ext4`, log: `${workDir}/build.log` });
  rmSync(staging, { recursive: true, force: true });
  rmSync(`${root}/build/agent-${hash}`, { recursive: true, force: true });
  copyFileSync(kernel.vmlinux, `${tmp}/vmlinux`);
  copyFileSync(kernel.bzImage, `${tmp}/bzImage`);
  copyFileSync(kernel.systemMap, `${tmp}/System.map`);

  const files = Object.fromEntries(
    ["vmlinux", "bzImage", "initramfs.cpio", "initramfs.cpio.gz", "rootfs.ext4", "System.map"].map(
      (f) => {
        const bytes = readFileSync(`${tmp}/${f}`);
        return [f, {
          size: bytes.length,
          sha256: createHash("sha256").update(bytes).digest("hex"),
        }];
      },
    ),
  );
  const manifest = {
    hash,
    kernelHash: kHash,
    kernelRelease: kernel.release,
    pvhEntry: `0x${facts.pvhEntry.toString(16)}`,
    loadSegments: facts.loads.map((l) => ({
      paddr: `0x${l.paddr.toString(16)}`,
      memsz: l.memsz,
    })),
    // Each input's digest: comparing two manifests shows what changed between two builds.
    inputs: {
      kernel: digests(kernelInputs(src)),
      guest: digests(guestInputs(src)),
    },
    files,
    builtAt: new Date().toISOString(),
    buildSeconds: Math.round((performance.now() - t0) / 1000),
  };
  writeFileSync(`${tmp}/${MANIFEST}`, `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);

  pruneOldKernelTrees(root, workName, progress);
  progress(`[guest] done in ${manifest.buildSeconds} s: ${outDir}`);
  return guestPathsIn(outDir);
}

function digests(inputs: readonly HashInput[]): Record<string, string> {
  return Object.fromEntries(inputs.map((i) => [i.label, hashInputs([i])]));
}

/** A work tree untouched for this long is not being built or packed by anyone. */
const IDLE_TREE_MS = 30 * 60_000;

/**
 * Kernel work trees take about 1.6 GB each; only the current one is kept. The build lock keeps
 * out builds by this code, but a checkout of older code (a CI clone, say) may build into the same
 * cache without it: a tree whose directory, log or done-marker changed in the last 30 minutes is
 * left alone. Finished guests (`guest/<hash>/`) are never removed.
 *
 * @example
 * ```ts
 * pruneOldKernelTrees(cacheRoot(), `linux-6.1-${kernelHash()}`, console.error);
 * ```
 */
export function pruneOldKernelTrees(
  root: string,
  keep: string,
  progress: Progress,
  now: number = Date.now(),
): void {
  for (const name of readdirSync(`${root}/build`)) {
    if (!name.startsWith("linux-6.1-") || name === keep) continue;
    const dir = `${root}/build/${name}`;
    const touched = [dir, `${dir}/build.log`, `${dir}/.built`]
      .map((p) => (existsSync(p) ? statSync(p).mtimeMs : 0));
    if (now - Math.max(...touched) < IDLE_TREE_MS) continue;
    progress(`[guest] removing the old kernel work tree ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  }
}
