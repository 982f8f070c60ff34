/**
 * Builds the guest kernel in a work directory that survives between runs: unpack Debian's
 * linux-source-6.1 once, apply `guest/patches/`, `allnoconfig` + the fragment, check the options
 * stuck, `make vmlinux bzImage`.
 *
 * @module
 */

import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { configMismatches, parseConfig } from "./kconfig.ts";
import { type GuestSources, patchFiles } from "./inputs.ts";
import { logTail, runLogged } from "./run_logged.ts";

/** Where the built kernel's files are, inside its source tree. */
export interface KernelOutputs {
  vmlinux: string;
  bzImage: string;
  systemMap: string;
  /** `uname -r` of the built kernel, e.g. `6.1.192-denovmm`. */
  release: string;
}

/** A kernel option from the fragment that did not stick. */
export class KernelConfigError extends Error {
  override name = "KernelConfigError";
}

/** Core-minutes of `make vmlinux bzImage` on the project's hosts (measured: 295 s with -j2). */
const CORE_MINUTES = 10;

/**
 * Builds (or finds, when `workDir` holds a finished build of the same inputs) the kernel.
 * `workDir` is named by the kernel hash; `force` starts from a fresh source tree.
 *
 * @example
 * ```ts
 * const k = await buildKernel({ src: DEFAULT_SOURCES, workDir, force: false, progress: console.error });
 * console.log(k.vmlinux);
 * ```
 */
export async function buildKernel(o: {
  src: GuestSources;
  workDir: string;
  force: boolean;
  progress: (line: string) => void;
  jobs?: number;
}): Promise<KernelOutputs> {
  const tree = `${o.workDir}/linux-source-6.1`;
  const log = `${o.workDir}/build.log`;
  const done = `${o.workDir}/.built`;
  const outputs: KernelOutputs = {
    vmlinux: `${tree}/vmlinux`,
    bzImage: `${tree}/arch/x86/boot/bzImage`,
    systemMap: `${tree}/System.map`,
    release: "",
  };
  const release = () => readFileSync(`${tree}/include/config/kernel.release`, "utf8").trim();
  if (!o.force && existsSync(done)) {
    o.progress(`[guest] kernel already built in ${o.workDir}`);
    return { ...outputs, release: release() };
  }
  rmSync(done, { force: true });
  writeFileSync(log, `# denovmm guest kernel build, ${new Date().toISOString()}\n`);

  // The marker is written after the last patch: a tree without it is half unpacked or half
  // patched, and is unpacked again.
  const patched = `${tree}/.denovmm-patched`;
  if (o.force || !existsSync(patched)) {
    rmSync(tree, { recursive: true, force: true });
    o.progress(`[guest] unpacking ${o.src.linuxTarball} (under a minute)...`);
    await runLogged("tar", ["-xJf", o.src.linuxTarball, "-C", o.workDir], { log });
    if (!existsSync(`${tree}/Makefile`)) {
      throw new Error(`${o.src.linuxTarball} did not unpack to ${tree}`);
    }
    for (const p of patchFiles(o.src.patchDir)) {
      o.progress(`[guest] applying ${p.split("/").pop()}`);
      await runLogged("patch", ["-p1", "--forward", "--batch", "-i", p], { cwd: tree, log });
    }
    writeFileSync(patched, "");
  }

  o.progress("[guest] configuring the kernel (allnoconfig + guest/kernel.config)...");
  await runLogged("make", ["allnoconfig"], { cwd: tree, log });
  await runLogged("scripts/kconfig/merge_config.sh", ["-m", ".config", o.src.fragment], {
    cwd: tree,
    log,
  });
  await runLogged("make", ["olddefconfig"], { cwd: tree, log });
  const bad = configMismatches(
    parseConfig(readFileSync(o.src.fragment, "utf8")),
    readFileSync(`${tree}/.config`, "utf8"),
  );
  if (bad.length > 0) {
    throw new KernelConfigError(
      `These options of ${o.src.fragment} did not end up in ${tree}/.config ` +
        `(a dependency is missing or they conflict):\n  ${bad.join("\n  ")}`,
    );
  }

  const jobs = o.jobs ?? (navigator.hardwareConcurrency || 1);
  const minutes = Math.max(1, Math.round(CORE_MINUTES / jobs));
  o.progress(
    `[guest] building the kernel with ${jobs} jobs (this takes ~${minutes} minutes on ${jobs} ` +
      `cores; log: ${log})...`,
  );
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const last = logTail(log, 1).trim();
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    o.progress(`[guest]   ... ${s} s${last ? `: ${last}` : ""}`);
  }, 30_000);
  try {
    // Fixed user and host in the banner, so rebuilds of the same inputs say the same thing.
    await runLogged("make", [`-j${jobs}`, "vmlinux", "bzImage"], {
      cwd: tree,
      log,
      env: { KBUILD_BUILD_USER: "denovmm", KBUILD_BUILD_HOST: "denovmm" },
    });
  } finally {
    clearInterval(ticker);
  }
  writeFileSync(done, "");
  return { ...outputs, release: release() };
}
