/**
 * The default guest as an ext4 root file system image (`rootfs.ext4`): the same busybox tree and
 * `/init` as the initramfs, for VMMs and tools that boot a kernel with a root drive instead of an
 * initrd, as Firecracker's getting-started guide does (`is_root_device: true`, which adds
 * `root=/dev/vda rw`).
 *
 * Without an initramfs the kernel mounts the root device and runs `/sbin/init` (then
 * `/etc/init`, `/bin/init`, `/bin/sh`), not `/init`; so in the image `/sbin/init` is a link to
 * `/init` instead of busybox's init applet. The console file descriptors come from the
 * kernel's built-in initramfs (its `/dev/console`), opened before the root is mounted, and
 * `CONFIG_DEVTMPFS_MOUNT` puts devtmpfs on the image's empty `/dev`.
 *
 * @module
 */

import { lstatSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { runLogged } from "./run_logged.ts";

/** The smallest image: room for the guest to write logs and scratch files. */
export const ROOTFS_MIN_MIB = 64;

/** Bytes under `dir` (files and links, not following links). */
function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    n += e.isDirectory() ? 4096 + treeBytes(p) : lstatSync(p).size;
  }
  return n;
}

/**
 * The image size for a tree of `bytes`: twice the tree (ext4 metadata, journal, free space for
 * the guest), rounded up to a MiB, at least {@link ROOTFS_MIN_MIB}.
 *
 * @example
 * ```ts
 * rootfsSizeMiB(3 * 2 ** 20); // 64
 * ```
 */
export function rootfsSizeMiB(bytes: number): number {
  return Math.max(ROOTFS_MIN_MIB, Math.ceil((2 * bytes) / 2 ** 20) + 16);
}

/**
 * Turns the initramfs staging tree `staging` (already packed: this edits it) into the ext4 image
 * `out` with `mke2fs -d`, every file owned by root. Command output goes to `log`.
 *
 * @example
 * ```ts
 * await packRootfs({ staging: "/tmp/root", out: "/tmp/rootfs.ext4", log: "/tmp/pack.log" });
 * ```
 */
export async function packRootfs(o: { staging: string; out: string; log: string }): Promise<void> {
  const init = `${o.staging}/sbin/init`;
  rmSync(init, { force: true });
  symlinkSync("/init", init);
  const mib = rootfsSizeMiB(treeBytes(o.staging));
  rmSync(o.out, { force: true });
  await runLogged("mke2fs", [
    "-q",
    "-F",
    "-t",
    "ext4",
    "-L",
    "denovmm-root",
    "-d",
    o.staging,
    "-E",
    "root_owner=0:0",
    o.out,
    `${mib}M`,
  ], { log: o.log });
}
