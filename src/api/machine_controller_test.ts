import assert from "node:assert/strict";
import { HAS_KVM } from "../../tests/support/payload_vm.ts";
import { SPIN, tinyKernel } from "../../tests/support/tiny_kernel.ts";
import { ApiError } from "./api_error.ts";
import { MachineController } from "./machine_controller.ts";
import { VmConfig } from "./vm_config.ts";

const kvmTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_KVM, fn, sanitizeOps: false, sanitizeResources: false });

kvmTest(
  "MachineController: start, Paused/Running states, counters named by drive id, drive swap",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/vmlinux`, tinyKernel(SPIN));
      await Deno.writeFile(`${dir}/data.img`, new Uint8Array(1 << 20));
      const c = new VmConfig();
      c.putBootSource({ kernel_image_path: `${dir}/vmlinux`, boot_args: "console=ttyS0" });
      c.putMachineConfig({ vcpu_count: 2, mem_size_mib: 64 });
      c.putDrive("data", {
        drive_id: "data",
        path_on_host: `${dir}/data.img`,
        is_root_device: false,
        is_read_only: true,
      });
      const started: unknown[] = [];
      const ctl = new MachineController({
        pvmQuirks: "off",
        consoleOutput: () => {},
        onStarted: (m) => started.push(m),
      });
      assert.equal(ctl.state(), "Not started");
      assert.equal(ctl.counters(), undefined);
      assert.throws(() => ctl.sendCtrlAltDel(), (e) => e instanceof ApiError && e.status === 400);
      await ctl.start(c.snapshot());
      assert.equal(started.length, 1);
      assert.equal(ctl.state(), "Running");
      await assert.rejects(ctl.start(c.snapshot()), /already started/);
      const counters = ctl.counters()!;
      assert.equal(counters.vcpus.length, 2);
      assert.deepEqual(
        counters.devices.map((d) => `${d.kind}_${d.id}`),
        ["block_data"],
        "devices with counters only, named by their API id",
      );
      await ctl.pause();
      assert.equal(ctl.state(), "Paused");
      await ctl.resume();
      assert.equal(ctl.state(), "Running");
      // The spinning guest never reads its keyboard: once its buffer is full, presses are refused.
      ctl.sendCtrlAltDel();
      let pressed = 1;
      assert.throws(() => {
        for (; pressed < 64; pressed++) ctl.sendCtrlAltDel();
      }, /not reading its keyboard/);
      assert.ok(pressed < 64);
      // PATCH /drives after boot: the running disk moves to another image, read-only as before.
      await Deno.writeFile(`${dir}/data2.img`, new Uint8Array(2 << 20));
      await ctl.updateDrive("data", `${dir}/data2.img`);
      const disk = ctl.machine!.disks[0];
      assert.equal(disk.backend.size, 2 << 20);
      assert.equal(disk.backend.readOnly, true);
      await assert.rejects(
        ctl.updateDrive("data", `${dir}/missing.img`),
        /Cannot open disk image .*missing\.img: no such file/,
      );
      assert.equal(disk.backend.size, 2 << 20, "a failed swap keeps the current image");
      await assert.rejects(ctl.updateDrive("nope", `${dir}/data2.img`), /nope is not attached/);
      await ctl.machine!.stop();
      assert.deepEqual(await ctl.exited, { kind: "stopped" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("MachineController: a VM that cannot be built leaves it Not started", async () => {
  const ctl = new MachineController({ pvmQuirks: "off", consoleOutput: () => {} });
  const c = new VmConfig({ checkPaths: false });
  c.putBootSource({ kernel_image_path: "/nonexistent/vmlinux" });
  await assert.rejects(ctl.start(c.snapshot()), /Cannot open kernel \/nonexistent\/vmlinux/);
  assert.equal(ctl.state(), "Not started");
});
