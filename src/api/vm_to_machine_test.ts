import assert from "node:assert/strict";
import { DEFAULT_CMDLINE } from "../vmm/machine.ts";
import { ApiError } from "./api_error.ts";
import { VmConfig } from "./vm_config.ts";
import { toMachineFields, toNetConfigs } from "./vm_to_machine.ts";

function config(): VmConfig {
  return new VmConfig({ checkPaths: false });
}

function drive(id: string, root: boolean, readOnly = false) {
  return { drive_id: id, path_on_host: `${id}.img`, is_root_device: root, is_read_only: readOnly };
}

Deno.test("defaults: denovmm's command line, Firecracker's 1 vCPU / 128 MiB, template None -> host", () => {
  const c = config();
  c.putBootSource({ kernel_image_path: "vmlinux", initrd_path: "initrd" });
  const f = toMachineFields(c.snapshot());
  assert.equal(f.cmdline, DEFAULT_CMDLINE);
  assert.equal(f.cpus, 1);
  assert.equal(f.memMiB, 128);
  assert.equal(f.cpuTemplate, "host");
  assert.equal(f.kernelPath, "vmlinux");
  assert.equal(f.initrdPath, "initrd");
  assert.deepEqual(f.disks, []);
});

Deno.test("the root drive comes first and adds root= and rw/ro before init arguments", () => {
  const c = config();
  c.putBootSource({ kernel_image_path: "k", boot_args: "console=ttyS0 reboot=k -- sh -c ls" });
  c.putDrive("data", drive("data", false, true));
  c.putDrive("rootfs", drive("rootfs", true));
  c.putMachineConfig({ vcpu_count: 2, mem_size_mib: 256, cpu_template: "minimal" });
  const f = toMachineFields(c.snapshot());
  assert.equal(f.cmdline, "console=ttyS0 reboot=k root=/dev/vda rw -- sh -c ls");
  assert.deepEqual(f.disks, [{ path: "rootfs.img", readOnly: false }, {
    path: "data.img",
    readOnly: true,
  }]);
  assert.deepEqual(f.driveIds, ["rootfs", "data"]);
  assert.equal(f.cpuTemplate, "minimal");
  assert.equal(f.cpus, 2);
});

Deno.test("a partuuid root, a read-only root, and a user's own root= are respected", () => {
  const c = config();
  c.putBootSource({ kernel_image_path: "k", boot_args: "console=ttyS0" });
  c.putDrive("r", { ...drive("r", true, true), partuuid: "abcd-01" });
  assert.equal(toMachineFields(c.snapshot()).cmdline, "console=ttyS0 root=PARTUUID=abcd-01 ro");
  c.putBootSource({ kernel_image_path: "k", boot_args: "console=ttyS0 root=/dev/vdb rw" });
  assert.equal(toMachineFields(c.snapshot()).cmdline, "console=ttyS0 root=/dev/vdb rw");
});

Deno.test("no boot source cannot start", () => {
  const c = config();
  assert.throws(
    () => toMachineFields(c.snapshot()),
    (e) => e instanceof ApiError && e.status === 400 && /kernel was not configured/.test(e.message),
  );
});

Deno.test("fromJson reads Firecracker's config-file shape and round-trips through toJSON", () => {
  const file = {
    "boot-source": {
      kernel_image_path: "vmlinux",
      boot_args: "console=ttyS0 reboot=k panic=1 pci=off",
    },
    "drives": [drive("rootfs", true)],
    "machine-config": { vcpu_count: 2, mem_size_mib: 1024, smt: false },
    "network-interfaces": [],
    "balloon": null,
    "vsock": null,
  };
  const c = VmConfig.fromJson(file, { checkPaths: false });
  const again = VmConfig.fromJson(JSON.parse(JSON.stringify(c.toJSON())), { checkPaths: false });
  assert.deepEqual(again.toJSON(), c.toJSON());
  assert.equal((c.toJSON()["machine-config"] as { mem_size_mib: number }).mem_size_mib, 1024);
  assert.throws(
    () => VmConfig.fromJson({ ...file, vsock: { guest_cid: 3, uds_path: "v" } }),
    /"vsock" section is not supported/,
  );
  assert.throws(
    () => VmConfig.fromJson({ ...file, drives: {} }, { checkPaths: false }),
    /"drives" must be an array/,
  );
  assert.throws(() => VmConfig.fromJson({ ...file, extra: 1 }), /unknown field `extra`/);
  assert.throws(
    () => VmConfig.fromJson({ ...file, drives: [{ drive_id: 7 }] }, { checkPaths: false }),
    ApiError,
  );
});

Deno.test("toNetConfigs: interfaces become taps in order, MACs kept, only mtu 1500 accepted", () => {
  assert.deepEqual(toNetConfigs([]), []);
  assert.deepEqual(
    toNetConfigs([
      { iface_id: "eth0", host_dev_name: "tap0", guest_mac: "06:00:AC:10:00:02" },
      { iface_id: "eth1", host_dev_name: "tap1", mtu: 1500 },
    ]),
    [{ tap: "tap0", mac: "06:00:AC:10:00:02" }, { tap: "tap1" }],
  );
  assert.throws(
    () => toNetConfigs([{ iface_id: "net1", host_dev_name: "tap0", mtu: 9000 }]),
    (e) =>
      e instanceof ApiError && e.status === 400 &&
      /network interface net1: mtu 9000 is not supported/.test(e.message),
  );
  const c = config();
  c.putBootSource({ kernel_image_path: "k" });
  c.putNetworkInterface("eth0", { iface_id: "eth0", host_dev_name: "tap0" });
  const f = toMachineFields(c.snapshot());
  assert.deepEqual([f.nets, f.ifaceIds], [[{ tap: "tap0" }], ["eth0"]]);
});
