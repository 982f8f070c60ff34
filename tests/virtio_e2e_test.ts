/**
 * End to end, virtio: one boot of the default guest with its console on virtio-console (hvc0),
 * a blank data disk (/dev/vda) and a read-only tools disk (/dev/vdb). The guest makes an ext4
 * file system, writes a file, prints its checksum, syncs and reboots; the host then reads the
 * file back out of the image with debugfs and compares.
 */

import assert from "node:assert/strict";
import { defaultGuest } from "../guest/paths.ts";
import { runCli } from "./support/cli_process.ts";
import { makeBlankImage, makeToolsImage, run } from "./support/disk_images.ts";
import { HAS_KVM } from "./support/payload_vm.ts";

// The kernel hands init at most 32 arguments, so the script travels on the tools disk.
const GUEST_SCRIPT = [
  "set -e",
  "mkdir -p /mnt/data",
  "/mnt/tools/run mke2fs -q -F -t ext4 /dev/vda",
  "mount -t ext4 /dev/vda /mnt/data",
  "dd if=/dev/hwrng of=/mnt/data/blob bs=1024 count=256 2>/dev/null",
  "echo SUM=$(sha256sum /mnt/data/blob)",
  "sync",
  "umount /mnt/data",
  "echo RO=$(cat /sys/block/vdb/ro)",
  "if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then echo VDB_WRITE=ok; else echo VDB_WRITE=refused; fi",
  "echo RNG=$(cat /sys/class/misc/hw_random/rng_current)",
  "echo CONSOLE=$(cat /sys/class/tty/console/active)",
].join("\n");

Deno.test({
  name: "virtio: ext4 on /dev/vda round-trips to the host, /dev/vdb is read-only, console on hvc0",
  ignore: !HAS_KVM,
  fn: async (t) => {
    const guest = await defaultGuest({ build: false });
    const dir = await Deno.makeTempDir({ prefix: "denovmm-e2e-" });
    try {
      const data = await makeBlankImage(dir, "data.img", 64);
      const tools = await makeToolsImage(dir, { "test.sh": GUEST_SCRIPT });
      const toolsBefore = await Deno.readFile(tools);
      const r = await runCli([
        "--kernel",
        guest.kernel,
        "--initrd",
        guest.initrd,
        "--console",
        "virtio",
        "--disk",
        data,
        "--disk",
        `${tools},ro`,
        "--",
        "mkdir -p /mnt/tools && mount -o ro /dev/vdb /mnt/tools && sh /mnt/tools/test.sh",
      ], 600_000);

      await t.step("the guest ran the script to the end and the VMM exited 0", () => {
        assert.match(r.stdout, /DENOVMM_EXIT=0/, r.stdout.slice(-3000) + r.stderr.slice(-2000));
        assert.equal(r.code, 0, r.stderr);
      });
      await t.step("the console is hvc0 (virtio-console)", () => {
        assert.match(r.stdout, /CONSOLE=hvc0/);
      });
      await t.step("virtio-rng is the guest's hardware RNG", () => {
        assert.match(r.stdout, /RNG=virtio_rng\.0/);
      });
      await t.step("the read-only disk is read-only and refuses writes", async () => {
        assert.match(r.stdout, /RO=1/);
        assert.match(r.stdout, /VDB_WRITE=refused/);
        assert.deepEqual(await Deno.readFile(tools), toolsBefore);
      });
      await t.step(
        "the host reads the guest's file out of the ext4 image, checksum equal",
        async () => {
          const sum = /SUM=([0-9a-f]{64})/.exec(r.stdout)?.[1];
          assert.ok(sum, "the guest printed a checksum");
          const features = await run("dumpe2fs", ["-h", data]);
          assert.match(features, /Filesystem features:.*\bextent\b/);
          const blob = await run("sh", [
            "-c",
            `debugfs -R "cat /blob" ${data} 2>/dev/null | sha256sum`,
          ]);
          assert.equal(blob.split(" ")[0], sum);
        },
      );
      console.log(`boot + ext4 round trip: ${(r.ms / 1000).toFixed(1)} s`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
