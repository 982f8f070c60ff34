/**
 * Packs the guest's initramfs: busybox with its applet links, a minimal /etc, `/init` and any
 * extra files, as a newc cpio of root-owned files, plain and gzipped.
 *
 * @module
 */

import { chmodSync, copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { ExtraFile } from "./inputs.ts";
import { runLogged } from "./run_logged.ts";

const DIRS = [
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
];

/**
 * The initramfs' /etc, path → text (hashed with the other inputs).
 *
 * @example
 * ```ts
 * console.log(ETC_FILES["etc/fstab"]);
 * ```
 */
export const ETC_FILES: Readonly<Record<string, string>> = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
  "etc/group": "root:x:0:\n",
  "etc/hostname": "denovmm\n",
  // What /init mounts with one `mount -a`.
  "etc/fstab": [
    "proc     /proc proc     nosuid,noexec,nodev    0 0",
    "sysfs    /sys  sysfs    nosuid,noexec,nodev    0 0",
    "devtmpfs /dev  devtmpfs nosuid                 0 0",
    "tmpfs    /tmp  tmpfs    nosuid,nodev           0 0",
    "tmpfs    /run  tmpfs    nosuid,nodev,mode=0755 0 0",
    "",
  ].join("\n"),
  "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 denovmm\n",
  "etc/profile": 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nPS1="denovmm:\\w# "\n',
};

/** What goes into the initramfs. */
export interface InitramfsSpec {
  busybox: string;
  initScript: string;
  extraFiles: readonly ExtraFile[];
}

/**
 * Where busybox's applets go: `busybox --list-full` prints paths such as `usr/bin/awk`.
 *
 * @example
 * ```ts
 * await appletPaths("/bin/busybox"); // ["bin/ash", "bin/cat", ..., "usr/sbin/udhcpd"]
 * ```
 */
export async function appletPaths(busybox: string): Promise<string[]> {
  const out = await new Deno.Command(busybox, { args: ["--list-full"], stdout: "piped" }).output();
  if (!out.success) throw new Error(`\`${busybox} --list-full\` failed (exit ${out.code})`);
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim().replace(/^\/+/, ""))
    .filter((l) => l.length > 0 && !l.includes(".."));
}

/**
 * Fills `staging` (emptied first) with the initramfs tree and packs it twice: as a plain newc
 * cpio (`out`) and gzipped (`${out}.gz`). Command output goes to `log`.
 *
 * @example
 * ```ts
 * await packInitramfs(
 *   { busybox: "/bin/busybox", initScript: "guest/init.sh", extraFiles: [] },
 *   { staging: "/tmp/root", out: "/tmp/initramfs.cpio", log: "/tmp/initramfs.log" },
 * ); // writes /tmp/initramfs.cpio and /tmp/initramfs.cpio.gz
 * ```
 */
export async function packInitramfs(
  spec: InitramfsSpec,
  o: { staging: string; out: string; log: string },
): Promise<void> {
  const root = o.staging;
  rmSync(root, { recursive: true, force: true });
  for (const d of DIRS) mkdirSync(`${root}/${d}`, { recursive: true });
  chmodSync(`${root}/tmp`, 0o1777);
  chmodSync(`${root}/root`, 0o700);

  copyFileSync(spec.busybox, `${root}/bin/busybox`);
  chmodSync(`${root}/bin/busybox`, 0o755);
  for (const applet of await appletPaths(spec.busybox)) {
    if (applet === "bin/busybox") continue;
    mkdirSync(dirname(`${root}/${applet}`), { recursive: true });
    symlinkSync("/bin/busybox", `${root}/${applet}`);
  }
  for (const [path, text] of Object.entries(ETC_FILES)) writeFileSync(`${root}/${path}`, text);
  copyFileSync(spec.initScript, `${root}/init`);
  chmodSync(`${root}/init`, 0o755);

  for (const e of spec.extraFiles) {
    if (!e.dest.startsWith("/") || e.dest.split("/").includes("..")) {
      throw new Error(`Extra initramfs file ${e.src}: destination ${e.dest} is not a clean path`);
    }
    const dest = `${root}${e.dest}`;
    mkdirSync(dirname(dest), { recursive: true });
    rmSync(dest, { force: true }); // may be an applet link
    copyFileSync(e.src, dest);
    chmodSync(dest, e.mode);
  }

  mkdirSync(dirname(o.out), { recursive: true });
  // Sorted names and root ownership: the archive depends on the inputs, not on who built it.
  await runLogged("sh", [
    "-c",
    'cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | ' +
    'cpio --null -H newc -o --owner=0:0 --quiet > "$2" && gzip -9n < "$2" > "$2.gz"',
    "sh",
    root,
    o.out,
  ], { log: o.log });
}
