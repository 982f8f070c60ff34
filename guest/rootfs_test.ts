import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { packInitramfs } from "./initramfs.ts";
import { DEFAULT_SOURCES } from "./inputs.ts";
import { packRootfs, ROOTFS_MIN_MIB, rootfsSizeMiB } from "./rootfs.ts";

const canPack = existsSync("/bin/busybox") && existsSync("/usr/sbin/debugfs");

async function debugfs(image: string, request: string): Promise<string> {
  const r = await new Deno.Command("debugfs", {
    args: ["-R", request, image],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(r.success, `debugfs -R ${request}`);
  return new TextDecoder().decode(r.stdout);
}

Deno.test("rootfsSizeMiB: twice the tree plus room, at least the minimum", () => {
  assert.equal(rootfsSizeMiB(0), ROOTFS_MIN_MIB);
  assert.equal(rootfsSizeMiB(100 * 2 ** 20), 216);
});

Deno.test({
  name: "packRootfs: the initramfs tree as ext4, /init and /sbin/init -> /init, owned by root",
  ignore: !canPack,
  fn: async () => {
    const dir = mkdtempSync(`${tmpdir()}/denovmm-rootfs-test-`);
    try {
      const staging = `${dir}/root`;
      const log = `${dir}/pack.log`;
      await packInitramfs(
        { busybox: "/bin/busybox", initScript: DEFAULT_SOURCES.initScript, extraFiles: [] },
        { staging, out: `${dir}/initramfs.cpio`, log },
      );
      const image = `${dir}/rootfs.ext4`;
      await packRootfs({ staging, out: image, log });
      assert.equal(statSync(image).size, ROOTFS_MIN_MIB * 2 ** 20);
      const fsck = await new Deno.Command("e2fsck", { args: ["-fn", image], stdout: "null" })
        .output();
      assert.ok(fsck.success, "e2fsck finds the image clean");
      assert.match(await debugfs(image, "stat /init"), /Mode:\s+0755[\s\S]*User:\s+0\s+Group:\s+0/);
      assert.match(await debugfs(image, "stat /sbin/init"), /Fast link dest: "\/init"/);
      assert.match(await debugfs(image, "stat /bin/sh"), /Fast link dest: "\/bin\/busybox"/);
      const top = await debugfs(image, "ls -l /");
      for (const d of ["dev", "proc", "sys", "tmp", "etc", "bin", "sbin"]) {
        assert.match(top, new RegExp(`\\s${d}\\s*$`, "m"), d);
      }
      assert.match(await debugfs(image, "cat /etc/fstab"), /devtmpfs \/dev/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
