/**
 * Puts virtio devices on the machine: each gets a 4 KiB virtio-mmio window above RAM in the
 * 32-bit hole, an IOAPIC GSI from 5 up, an irqfd for its interrupt, one ioeventfd per queue on
 * QueueNotify (datamatch = queue index, so a kick never leaves the kernel), and a
 * `virtio_mmio.device=` argument so the guest's driver finds it without ACPI or a device tree.
 *
 * @module
 */

import type { Vm } from "../../ffi/kvm.ts";
import { KVM_IOEVENTFD_FLAG } from "../../ffi/kvm_ioctls.ts";
import type { IoBus } from "../devices/bus.ts";
import type { GuestMemory } from "../memory/guest_memory.ts";
import {
  IOAPIC_LAST_GSI,
  VIRTIO_FIRST_GSI,
  VIRTIO_MMIO_BASE,
  VIRTIO_MMIO_SLOT_SIZE,
} from "../memory/layout.ts";
import type { VirtioDevice } from "../virtio/device.ts";
import { MmioTransport, REG } from "../virtio/mmio_transport.ts";
import type { EventLoop } from "./event_loop.ts";
import { EventFd } from "./eventfd.ts";

/** A device placed on the machine. */
export interface VirtioSlot {
  device: VirtioDevice;
  transport: MmioTransport;
  base: number;
  gsi: number;
  /** The kernel argument that declares it. */
  cmdlineArg: string;
}

/** Most virtio-mmio devices one machine can have (one GSI each). */
export const MAX_VIRTIO_DEVICES = IOAPIC_LAST_GSI - VIRTIO_FIRST_GSI + 1;

/**
 * Wires `devices` into the VM; returns the slots and a disposer for their eventfds.
 *
 * @example
 * ```ts
 * const { slots, close } = placeVirtioDevices(vm, mem, mmio, loop, [blk, rng]);
 * for (const s of slots) cmdline.push(s.cmdlineArg);
 * ```
 */
export function placeVirtioDevices(
  vm: Vm,
  mem: GuestMemory,
  mmio: IoBus,
  loop: EventLoop,
  devices: VirtioDevice[],
): { slots: VirtioSlot[]; close: () => void } {
  if (devices.length > MAX_VIRTIO_DEVICES) {
    throw new Error(`At most ${MAX_VIRTIO_DEVICES} virtio devices fit on the interrupt controller`);
  }
  const fds: EventFd[] = [];
  const close = () => {
    for (const f of fds.splice(0)) {
      loop.remove(f.fd);
      f.close();
    }
  };
  try {
    const slots = devices.map((device, i) => {
      const base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SLOT_SIZE;
      const gsi = VIRTIO_FIRST_GSI + i;
      const irq = new EventFd();
      fds.push(irq);
      vm.irqfd(irq.fd, gsi);
      const transport = new MmioTransport(device, mem, { trigger: () => irq.signal() });
      mmio.insert(base, VIRTIO_MMIO_SLOT_SIZE, transport, `virtio-${device.name}`);
      device.queueMaxSizes.forEach((_, q) => {
        const kick = new EventFd();
        fds.push(kick);
        vm.ioeventfd({
          fd: kick.fd,
          addr: BigInt(base + REG.QUEUE_NOTIFY),
          len: 4,
          datamatch: BigInt(q),
          flags: KVM_IOEVENTFD_FLAG.DATAMATCH,
        });
        loop.add(kick.fd, () => {
          kick.drain();
          transport.notifyQueue(q);
        });
      });
      return {
        device,
        transport,
        base,
        gsi,
        cmdlineArg: `virtio_mmio.device=4K@0x${base.toString(16)}:${gsi}`,
      };
    });
    return { slots, close };
  } catch (e) {
    close();
    throw e;
  }
}
