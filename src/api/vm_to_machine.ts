/**
 * The pure mapping from the API's VM description to denovmm's {@link MachineConfig} fields.
 *
 * Command line: Firecracker boots with `reboot=k panic=1 pci=off nomodules 8250.nr_uarts=0
 * i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd` when `boot_args` is absent. That line
 * turns the 16550A off (`8250.nr_uarts=0`), and denovmm's console is that UART, so with no
 * `boot_args` denovmm uses its own DEFAULT_CMDLINE (`console=ttyS0 reboot=k panic=-1`)
 * instead. Given `boot_args` are used as written (Firecracker's getting-started line
 * `console=ttyS0 reboot=k panic=1 pci=off` works unchanged). As Firecracker does, a root drive
 * adds `root=/dev/vda` (or `root=PARTUUID=...`) and `ro`/`rw` unless the line already has them.
 *
 * @module
 */

import { Cmdline } from "../boot/cmdline.ts";
import { DEFAULT_CMDLINE, type MachineConfig } from "../vmm/machine.ts";
import type { DiskConfig, NetConfig } from "../vmm/machine_devices.ts";
import { ApiError } from "./api_error.ts";
import type { NetworkInterface, VmConfigData } from "./vm_config_types.ts";

/** Firecracker's command line when `boot_args` is absent (for reference; see the module doc). */
export const FIRECRACKER_DEFAULT_BOOT_ARGS =
  "reboot=k panic=1 pci=off nomodules 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

/** What {@link toMachineFields} returns: the MachineConfig fields plus the files to read. */
export interface MachineFields
  extends Pick<MachineConfig, "cmdline" | "memMiB" | "cpus" | "cpuTemplate"> {
  kernelPath: string;
  initrdPath?: string;
  /** Root drive first (/dev/vda), then the others in the order they were added. */
  disks: DiskConfig[];
  /** The drive ids in `disks` order, to name per-disk metrics. */
  driveIds: string[];
  /** The network interfaces for the Machine (see {@link toNetConfigs}). */
  nets: NetConfig[];
  /** The interface ids in `nets` order, to name per-interface metrics. */
  ifaceIds: string[];
}

/**
 * Maps the API's network interfaces to the Machine's virtio-net devices, in the order they were
 * added (eth0 first): `host_dev_name` is the tap, `guest_mac` the MAC (a stable one derived
 * from the tap name when absent). The device does not offer VIRTIO_NET_F_MTU, so an `mtu` other
 * than Ethernet's 1500 refuses InstanceStart with a 400 instead of being silently ignored.
 *
 * @example
 * ```ts
 * toNetConfigs([{ iface_id: "eth0", host_dev_name: "tap0" }]); // [{ tap: "tap0" }]
 * ```
 */
export function toNetConfigs(ifaces: readonly NetworkInterface[]): NetConfig[] {
  return ifaces.map((n) => {
    if (n.mtu !== undefined && n.mtu !== 1500) {
      throw new ApiError(
        400,
        `Start microvm error: network interface ${n.iface_id}: mtu ${n.mtu} is not supported ` +
          "(denovmm's virtio-net has a fixed MTU of 1500).",
      );
    }
    return n.guest_mac !== undefined
      ? { tap: n.host_dev_name, mac: n.guest_mac }
      : { tap: n.host_dev_name };
  });
}

/**
 * Maps the configuration to MachineConfig fields, or throws the 400 InstanceStart answers:
 * no boot source, or a network interface it cannot create ({@link toNetConfigs}).
 *
 * @example
 * ```ts
 * const f = toMachineFields(config.snapshot());
 * Machine.create({ ...f, kernel: await Deno.readFile(f.kernelPath), pvmQuirks: "auto", consoleOutput });
 * ```
 */
export function toMachineFields(c: VmConfigData): MachineFields {
  if (c.bootSource === undefined) {
    throw new ApiError(
      400,
      "Start microvm error: Cannot start the VM because the kernel was not configured (PUT /boot-source).",
    );
  }
  const nets = toNetConfigs(c.networkInterfaces);
  const cmdline = Cmdline.parse(c.bootSource.boot_args ?? DEFAULT_CMDLINE);
  const root = c.drives.find((d) => d.is_root_device);
  const ordered = root ? [root, ...c.drives.filter((d) => d !== root)] : c.drives;
  if (root !== undefined) {
    if (!cmdline.has("root")) {
      cmdline.push(root.partuuid ? `root=PARTUUID=${root.partuuid}` : "root=/dev/vda");
    }
    if (!cmdline.has("ro") && !cmdline.has("rw")) cmdline.push(root.is_read_only ? "ro" : "rw");
  }
  const m = c.machineConfig;
  return {
    kernelPath: c.bootSource.kernel_image_path,
    ...(c.bootSource.initrd_path !== undefined ? { initrdPath: c.bootSource.initrd_path } : {}),
    cmdline: cmdline.toString(),
    memMiB: m.mem_size_mib,
    cpus: m.vcpu_count,
    // "None" means no template in Firecracker: the host's features, denovmm's "host".
    cpuTemplate: m.cpu_template === "None" ? "host" : m.cpu_template,
    disks: ordered.map((d) => ({ path: d.path_on_host, readOnly: d.is_read_only })),
    driveIds: ordered.map((d) => d.drive_id),
    nets,
    ifaceIds: c.networkInterfaces.map((n) => n.iface_id),
  };
}
