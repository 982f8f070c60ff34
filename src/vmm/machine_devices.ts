/**
 * The virtio devices a machine config asks for: disks, the console (with its named ports) and
 * the entropy device.
 *
 * @module
 */

import { BlockDevice } from "../virtio/block/device.ts";
import { FileBackend } from "../virtio/block/file_backend.ts";
import { ConsoleDevice, type ConsolePortConfig } from "../virtio/console/device.ts";
import type { VirtioDevice } from "../virtio/device.ts";
import { RngDevice } from "../virtio/rng/device.ts";
import { PortStream } from "./port_stream.ts";

/** A disk for the guest. */
export interface DiskConfig {
  /** Raw image file. */
  path: string;
  /** Refuse guest writes (VIRTIO_BLK_F_RO) and open the file read-only. */
  readOnly?: boolean;
}

/** The virtio side of a machine. */
export interface MachineDevices {
  devices: VirtioDevice[];
  disks: BlockDevice[];
  console?: ConsoleDevice;
  /** Port 0 of `console` is the guest console (hvc0). */
  virtioConsole: boolean;
  ports: Map<string, PortStream>;
  /** Closes the disk images. */
  close(): void;
}

/**
 * Builds the devices. Disks come first so the guest names them /dev/vda, /dev/vdb, ... in order.
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
}): MachineDevices {
  const disks: BlockDevice[] = [];
  const close = () => disks.forEach((d) => d.backend.close());
  try {
    o.disks.forEach((d, i) => {
      const backend = FileBackend.open(d.path, {
        readOnly: d.readOnly ?? false,
        id: `denovmm-vd${String.fromCharCode(97 + i)}`,
      });
      disks.push(new BlockDevice(`blk${i}`, backend));
    });
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
  const devices: VirtioDevice[] = [...disks, ...(console ? [console] : []), new RngDevice("rng0")];
  return { devices, disks, console, virtioConsole: o.virtioConsole, ports, close };
}
