/**
 * The default guest: find it in the cache or build it.
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import {
  BUSYBOX,
  cacheRoot,
  checkHostTools,
  EXTRA_FILES,
  findCachedGuest,
  guestHash,
  type GuestPaths,
  INIT_SCRIPT,
  KERNEL_FRAGMENT,
  kernelHash,
  LINUX_TARBALL,
  parseFragment,
  PATCH_DIR,
  type Progress,
  verifyConfig,
} from "./builder.ts";
import { runLogged } from "./run_logged.ts";

export type { GuestPaths } from "./builder.ts";

/**
 * The cached default guest; builds it first when `build` is true (the default) and it is missing.
 *
 * @example
 * ```ts
 * const { kernel, initrd } = await defaultGuest();
 * ```
 */
export async function defaultGuest(
  opts: { build?: boolean; force?: boolean; onProgress?: Progress } = {},
): Promise<GuestPaths> {
  const cached = opts.force ? undefined : findCachedGuest();
  if (cached) return cached;
  if (opts.build === false) {
    throw new Error("The default guest is not built yet: run `deno task guest` (about 4 minutes)");
  }
  return await buildGuest(opts.onProgress ?? ((l) => console.error(l)), opts.force ?? false);
}

async function buildGuest(progress: Progress, force: boolean): Promise<GuestPaths> {
  await checkHostTools();
  const root = cacheRoot();
  const hash = guestHash();
  const outDir = `${root}/guest/${hash}`;
  const buildDir = `${root}/build/linux-6.1-${kernelHash()}`;
  mkdirSync(buildDir, { recursive: true });
  const log = `${buildDir}/build.log`;
  const src = `${buildDir}/linux-source-6.1`;
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

  const kernelDone = `${buildDir}/.built`;
  if (force || !existsSync(kernelDone)) {
    rmSync(kernelDone, { force: true });
    if (force || !existsSync(`${src}/.denovmm-patched`)) {
      rmSync(src, { recursive: true, force: true });
      progress(`[guest] unpacking ${LINUX_TARBALL}`);
      await runLogged("tar", ["-xJf", LINUX_TARBALL, "-C", buildDir], { log });
      for (
        const p of [...Deno.readDirSync(PATCH_DIR)].map((e) => e.name).filter((n) =>
          n.endsWith(".patch")
        ).sort()
      ) {
        progress(`[guest] applying ${p}`);
        await runLogged("patch", ["-p1", "--forward", "-i", `${PATCH_DIR}/${p}`], {
          cwd: src,
          log,
        });
      }
      writeFileSync(`${src}/.denovmm-patched`, "");
    }
    progress("[guest] configuring the kernel");
    await runLogged("make", ["allnoconfig"], { cwd: src, log });
    await runLogged("scripts/kconfig/merge_config.sh", ["-m", ".config", KERNEL_FRAGMENT], {
      cwd: src,
      log,
    });
    await runLogged("make", ["olddefconfig"], { cwd: src, log });
    const missing = verifyConfig(
      parseFragment(readFileSync(KERNEL_FRAGMENT, "utf8")),
      readFileSync(`${src}/.config`, "utf8"),
    );
    if (missing.length > 0) {
      throw new Error(
        `Kernel options from guest/kernel.config did not stick:\n  ${missing.join("\n  ")}`,
      );
    }
    const jobs = String(navigator.hardwareConcurrency || 2);
    progress(
      `[guest] building the kernel with ${jobs} jobs (about 4 minutes on 2 cores; log: ${log})`,
    );
    const ticker = setInterval(
      () => progress(`[guest] still building the kernel (${elapsed()})`),
      30_000,
    );
    try {
      await runLogged("make", [`-j${jobs}`, "vmlinux", "bzImage"], { cwd: src, log });
    } finally {
      clearInterval(ticker);
    }
    writeFileSync(kernelDone, "");
  } else {
    progress("[guest] kernel already built for these inputs");
  }

  progress("[guest] packing the initramfs");
  const tmpOut = `${outDir}.tmp`;
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  await packInitramfs(`${tmpOut}/initramfs.cpio.gz`, `${buildDir}/initramfs-root`, log);
  for (
    const [from, to] of [["vmlinux", "vmlinux"], ["arch/x86/boot/bzImage", "bzImage"], [
      "System.map",
      "System.map",
    ]]
  ) {
    await Deno.copyFile(`${src}/${from}`, `${tmpOut}/${to}`);
  }
  writeFileSync(
    `${tmpOut}/manifest.json`,
    JSON.stringify({ hash, kernelHash: kernelHash(), built: new Date().toISOString() }, null, 2),
  );
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpOut, outDir); // the manifest appears with the rest, never before
  progress(`[guest] done in ${elapsed()}: ${outDir}`);
  return findCachedGuest()!;
}

async function packInitramfs(out: string, root: string, log: string): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  for (
    const d of [
      "bin",
      "sbin",
      "usr/bin",
      "usr/sbin",
      "dev",
      "proc",
      "sys",
      "tmp",
      "run",
      "etc",
      "root",
      "mnt",
    ]
  ) {
    mkdirSync(`${root}/${d}`, { recursive: true });
  }
  await Deno.copyFile(BUSYBOX, `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  const list = await new Deno.Command(BUSYBOX, { args: ["--list-full"], stdout: "piped" }).output();
  for (
    const applet of new TextDecoder().decode(list.stdout).split("\n").filter((l) => l.length > 0)
  ) {
    const link = `${root}/${applet}`;
    if (!existsSync(link)) Deno.symlinkSync("/bin/busybox", link);
  }
  await Deno.copyFile(INIT_SCRIPT, `${root}/init`);
  await Deno.chmod(`${root}/init`, 0o755);
  writeFileSync(`${root}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(`${root}/etc/group`, "root:x:0:\n");
  writeFileSync(`${root}/etc/hostname`, "denovmm\n");
  for (const e of EXTRA_FILES) {
    const dest = `${root}/${e.dest.replace(/^\//, "")}`;
    mkdirSync(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(e.src, dest);
    await Deno.chmod(dest, e.mode);
  }
  await runLogged("sh", [
    "-c",
    `cd "${root}" && find . -print0 | LC_ALL=C sort -z | cpio --null -H newc -o --owner=0:0 --quiet | gzip -9 > "${out}"`,
  ], { log });
}
