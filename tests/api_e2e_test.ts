/**
 * End to end, the control plane: `denovmm api` driven with curl exactly as Firecracker's
 * getting-started guide drives Firecracker (tests/support/firecracker_getting_started.sh), booting
 * the default guest from its ext4 root image. One boot serves every runtime check: GET / says
 * Running, pause really stops the vCPUs and resume continues the guest, FlushMetrics writes
 * block and vCPU counters, a drive patched to a bigger image is seen at its new size by the
 * guest, and SendCtrlAltDel reboots the guest so the VMM exits 0.
 */

import assert from "node:assert/strict";
import { defaultGuest } from "../guest/paths.ts";
import { spawnApi } from "./support/api_process.ts";
import { HAS_KVM } from "./support/payload_vm.ts";

/** A boot on a loaded 2-core kvm_pvm host can take minutes (about one when it is idle). */
const BOOT_TIMEOUT_MS = 1_200_000;
const STEP_TIMEOUT_MS = 120_000;

const script = new URL("./support/firecracker_getting_started.sh", import.meta.url).pathname;

type Line = Record<string, Record<string, number>>;

async function metricLines(path: string): Promise<Line[]> {
  const text = await Deno.readTextFile(path);
  return text.trim().split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

/** The sum of one counter over every line (Firecracker's lines hold deltas). */
function total(lines: Line[], section: string, counter: string): number {
  return lines.reduce((n, l) => n + (l[section]?.[counter] ?? 0), 0);
}

Deno.test({
  name: "Firecracker's getting-started curl sequence boots the default guest; then pause, " +
    "resume, metrics and Ctrl-Alt-Del work on that one boot",
  ignore: !HAS_KVM,
  fn: async (t) => {
    const guest = await defaultGuest({ build: false });
    const dir = await Deno.makeTempDir({ prefix: "denovmm-api-e2e-" });
    try {
      // The guide's file names, in the directory both "shells" run in.
      await Deno.symlink(guest.kernel, `${dir}/hello-vmlinux.bin`);
      await Deno.copyFile(guest.rootfs, `${dir}/hello-rootfs.ext4`);
      const sock = `${dir}/firecracker.sock`;
      const metrics = `${dir}/metrics.json`;
      const logFile = `${dir}/denovmm.log`;
      await using vm = await spawnApi(["api", "--api-sock", sock], sock, { cwd: dir });

      // Not in the guide: a metrics file, a log file and a small scratch drive (/dev/vdb, swapped
      // for a bigger image after boot), which are pre-boot settings.
      assert.equal((await vm.req("PUT", "/metrics", { metrics_path: metrics })).status, 204);
      await Deno.writeFile(`${dir}/scratch1.img`, new Uint8Array(1 << 20));
      await Deno.writeFile(`${dir}/scratch2.img`, new Uint8Array(2 << 20));
      const scratch = (path: string) => ({
        drive_id: "scratch",
        path_on_host: path,
        is_root_device: false,
        is_read_only: false,
      });
      assert.equal(
        (await vm.req("PUT", "/drives/scratch", scratch("./scratch1.img"))).status,
        204,
      );
      assert.equal(
        (await vm.req("PUT", "/logger", {
          log_path: logFile,
          level: "Info",
          show_level: true,
          show_log_origin: true,
        })).status,
        204,
      );

      const curl = await new Deno.Command("bash", {
        args: [script],
        cwd: dir,
        env: { API_SOCKET: sock },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const curlOut = new TextDecoder().decode(curl.stdout);
      await t.step("every request of the guide is answered 204 No Content", () => {
        assert.ok(curl.success, new TextDecoder().decode(curl.stderr));
        const statuses = [...curlOut.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
        assert.deepEqual(statuses, ["204", "204", "204", "204"], curlOut);
      });

      let booted = false;
      // The checks below need the running guest: after a failed boot they are skipped, not failed.
      const step = (name: string, fn: () => Promise<void> | void) =>
        t.step({ name, ignore: !booted, fn });
      booted = await t.step("the guest boots from the ext4 root to its ready marker", async () => {
        await vm.waitFor("DENOVMM_READY", BOOT_TIMEOUT_MS);
        const out = vm.stdout();
        assert.match(
          out,
          /Command line: console=ttyS0 reboot=k panic=1 pci=off root=\/dev\/vda rw/,
        );
        assert.match(out, /VFS: Mounted root \(ext4 filesystem\) on device/);
        assert.match(out, /Run \/sbin\/init as init process/);
        assert.match(out, /smp: Brought up 1 node, 2 CPUs/);
      });

      await step(
        "GET / says Running; GET /vm/config shows the guide's configuration",
        async () => {
          const info = await vm.req("GET", "/");
          assert.equal(info.json!.state, "Running");
          const cfg = (await vm.req("GET", "/vm/config")).json!;
          assert.deepEqual(cfg["boot-source"], {
            kernel_image_path: "./hello-vmlinux.bin",
            boot_args: "console=ttyS0 reboot=k panic=1 pci=off",
          });
          assert.deepEqual(
            (cfg["machine-config"] as Record<string, unknown>).vcpu_count,
            2,
          );
          assert.equal((cfg["machine-config"] as Record<string, unknown>).mem_size_mib, 1024);
          assert.deepEqual(
            (cfg.drives as { drive_id: string }[]).map((d) => d.drive_id).sort(),
            ["rootfs", "scratch"],
          );
          const late = await vm.req("PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128 });
          assert.equal(late.status, 400);
          assert.match(String(late.json!.fault_message), /not supported after starting/);
        },
      );

      await step("PATCH /vm Paused stops both vCPUs: no exit while paused", async () => {
        assert.equal((await vm.req("PATCH", "/vm", { state: "Paused" })).status, 204);
        assert.equal((await vm.req("GET", "/")).json!.state, "Paused");
        assert.equal(
          (await vm.req("PUT", "/actions", { action_type: "FlushMetrics" })).status,
          204,
        );
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(
          (await vm.req("PUT", "/actions", { action_type: "FlushMetrics" })).status,
          204,
        );
        const lines = await metricLines(metrics);
        const paused = lines[lines.length - 1];
        for (const k of ["exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write"]) {
          assert.equal(paused.vcpu[k], 0, `${k} while paused: ${JSON.stringify(paused.vcpu)}`);
        }
      });

      await step("PATCH /vm Resumed: the guest carries on where it was", async () => {
        assert.equal((await vm.req("PATCH", "/vm", { state: "Resumed" })).status, 204);
        assert.equal((await vm.req("GET", "/")).json!.state, "Running");
        await vm.type("echo resumed-$((6*7))\n");
        await vm.waitFor(/^resumed-42\r?$/m, STEP_TIMEOUT_MS);
      });

      await step("FlushMetrics lines carry block and per-vCPU counters", async () => {
        assert.equal(
          (await vm.req("PUT", "/actions", { action_type: "FlushMetrics" })).status,
          204,
        );
        const lines = await metricLines(metrics);
        assert.ok(lines.length >= 3);
        for (const l of lines) assert.equal(typeof l.utc_timestamp_ms, "number");
        assert.ok(total(lines, "block_rootfs", "read_bytes") > 1_000_000, "the root was read");
        assert.ok(total(lines, "block_rootfs", "read_count") > 0);
        assert.equal(
          total(lines, "block", "read_bytes"),
          total(lines, "block_rootfs", "read_bytes") + total(lines, "block_scratch", "read_bytes"),
        );
        assert.ok(total(lines, "vcpu_0", "exit_io_out") > 0, "vCPU 0 wrote to the UART");
        assert.ok(lines.every((l) => "vcpu_1" in l), "one section per vCPU");
        assert.ok(total(lines, "vcpu", "exit_mmio_write") > 0, "virtio-mmio register writes");
        assert.equal(total(lines, "put_api_requests", "drive_count"), 2);
        assert.equal(total(lines, "patch_api_requests", "vm_count"), 2);
      });

      await step(
        "PATCH /drives/scratch after boot: the guest sees the bigger image's capacity",
        async () => {
          await vm.type("echo vdb-$(cat /sys/block/vdb/size)\n");
          await vm.waitFor(/^vdb-2048\r?$/m, STEP_TIMEOUT_MS);
          const r = await vm.req("PATCH", "/drives/scratch", {
            drive_id: "scratch",
            path_on_host: "./scratch2.img",
          });
          assert.equal(r.status, 204, JSON.stringify(r.json));
          await vm.waitFor(/\[vdb\] new size: 4096 512-byte logical blocks/, STEP_TIMEOUT_MS);
          await vm.type("echo vdb-$(cat /sys/block/vdb/size)\n");
          await vm.waitFor(/^vdb-4096\r?$/m, STEP_TIMEOUT_MS);
        },
      );

      await step(
        "SendCtrlAltDel reboots the guest and the VMM exits 0, removing its socket",
        async () => {
          const before = (await metricLines(metrics)).length;
          assert.equal(
            (await vm.req("PUT", "/actions", { action_type: "SendCtrlAltDel" })).status,
            204,
          );
          const status = await Promise.race([
            vm.status,
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error("no exit after Ctrl-Alt-Del")), STEP_TIMEOUT_MS)
            ),
          ]);
          assert.equal(status.code, 0, vm.stderr().slice(-2000));
          // The guest's own "reboot: Restarting system" line is not required: Linux's default
          // Ctrl-Alt-Del reboots at once without a sync, its virtio shutdown then fails the
          // writes still queued, and while another vCPU prints those I/O errors the rebooting
          // one may reset the machine before the console has its last line (seen here: the
          // console ended with such an I/O error and no restart line).
          assert.match(vm.stderr(), /Guest ended \(reset\)/);
          assert.throws(() => Deno.lstatSync(sock), Deno.errors.NotFound);
          assert.equal((await metricLines(metrics)).length, before + 1, "a last line at exit");
        },
      );

      await step("the log file has denovmm's log lines in Firecracker's format", async () => {
        const log = await Deno.readTextFile(logFile);
        assert.match(
          log,
          /^\S+Z \[anonymous-instance:main:INFO:denovmm\.vm\] Loaded elf kernel/m,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
