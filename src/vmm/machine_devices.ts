/**
 * The virtio devices a machine config asks for: disks, the console (with its named ports),
 * network interfaces on taps and the entropy device.
 *
 * @module
 */

import { BlockDevice } from "../virtio/block/device.ts";
import { FileBackend } from "../virtio/block/file_backend.ts";
import { ConsoleDevice, type ConsolePortConfig } from "../virtio/console/device.ts";
import type { VirtioDevice } from "../virtio/device.ts";
import { RngDevice } from "../virtio/rng/device.ts";
import { NetDevice } from "../virtio/net/device.ts";
import { TapBackend } from "../virtio/net/tap_backend.ts";
import type { EventLoop } from "./event_loop.ts";
import { PortStream } from "./port_stream.ts";

/** A disk for the guest. */
export interface DiskConfig {
  /** Raw image file. */
  path: string;
  /** Refuse guest writes (VIRTIO_BLK_F_RO) and open the file read-only. */
  readOnly?: boolean;
}

/** A network interface for the guest: a virtio-net device on an existing tap. */
export interface NetConfig {
  /** Name of the tap on the host (it must exist: `ip tuntap add dev NAME mode tap`). */
  tap: string;
  /** MAC address (`02:00:00:00:00:01`); default: derived from the tap name, stable. */
  mac?: string;
}

/** The virtio side of a machine. */
export interface MachineDevices {
  devices: VirtioDevice[];
  disks: BlockDevice[];
  /** Network devices, in guest order (eth0 first). */
  nets: NetDevice[];
  console?: ConsoleDevice;
  /** Port 0 of `console` is the guest console (hvc0). */
  virtioConsole: boolean;
  ports: Map<string, PortStream>;
  /** Closes the disk images. */
  close(): void;
}

/**
 * Builds the devices. Disks come first so the guest names them /dev/vda, /dev/vdb, ... in order;
 * network devices follow in the order given (eth0, eth1, ...), their taps watched by `loop`.
 *
 * @example
 * ```ts
 * const d = buildDevices({ disks: [{ path: "a.img" }], virtioConsole: true, ports: ["agent"], consoleOutput });
 * ```
 */
export function buildDevices(o: {
  disks: DiskConfig[];
  virtioConsole: boolean;
  ports: string[];
  consoleOutput: (b: Uint8Array) => void;
  nets?: NetConfig[];
  loop?: EventLoop;
}): MachineDevices {
  const disks: BlockDevice[] = [];
  const nets: NetDevice[] = [];
  const close = () => {
    disks.forEach((d) => d.backend.close());
    nets.forEach((n) => n.backend.close());
  };
  try {
    o.disks.forEach((d, i) => {
      const backend = FileBackend.open(d.path, {
        readOnly: d.readOnly ?? false,
        id: `denovmm-vd${String.fromCharCode(97 + i)}`,
      });
      disks.push(new BlockDevice(`blk${i}`, backend));
    });
    for (const [i, n] of (o.nets ?? []).entries()) {
      if (o.loop === undefined) throw new Error("Network devices need the machine's event loop");
      if ((o.nets ?? []).findIndex((m) => m.tap === n.tap) !== i) {
        throw new Error(`Tap ${n.tap} is given twice`);
      }
      const tap = TapBackend.open(n.tap, { loop: o.loop });
      let dev: NetDevice;
      try {
        dev = new NetDevice(`net${i}`, tap, { mac: n.mac });
      } catch (e) {
        tap.close();
        throw e;
      }
      nets.push(dev);
      const twin = nets.find((m) => m !== dev && m.mac === dev.mac);
      if (twin !== undefined) {
        throw new Error(`MAC address ${dev.mac} is used by two network devices`);
      }
    }
  } catch (e) {
    close();
    throw e;
  }
  const ports = new Map<string, PortStream>();
  let console: ConsoleDevice | undefined;
  if (o.virtioConsole || o.ports.length > 0) {
    const configs: ConsolePortConfig[] = [{ output: o.virtioConsole ? o.consoleOutput : () => {} }];
    o.ports.forEach((name, i) => {
      if (ports.has(name)) throw new Error(`Console port name ${name} is used twice`);
      const stream = new PortStream(name, () => console!, i + 1);
      ports.set(name, stream);
      configs.push({ name, output: (b) => stream.push(b) });
    });
    console = new ConsoleDevice("console0", configs);
  }
  const devices: VirtioDevice[] = [
    ...disks,
    ...(console ? [console] : []),
    ...nets,
    new RngDevice("rng0"),
  ];
  return { devices, disks, nets, console, virtioConsole: o.virtioConsole, ports, close };
}

/**
 * Points a running disk at another image file (Firecracker's `PATCH /drives/{id}` after boot):
 * the new file is opened as the old one was (read-only or not, same serial), the device swaps
 * to it once its requests in flight are done, and the old file is closed.
 *
 * @example `await replaceDiskImage(machine.disks[0], "./other.ext4");`
 */
export async function replaceDiskImage(disk: BlockDevice, path: string): Promise<void> {
  const { readOnly, id } = disk.backend;
  const next = FileBackend.open(path, { readOnly, id });
  let old;
  try {
    old = await disk.replaceBackend(next);
  } catch (e) {
    next.close();
    throw e;
  }
  old.close();
}
