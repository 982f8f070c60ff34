/**
 * Activates a device against MockSplitQueues without a transport, for device unit tests.
 *
 * @module
 */

import { GuestMemory } from "../../memory/guest_memory.ts";
import type { VirtioDevice } from "../device.ts";
import { SplitQueue } from "../queue/split_queue.ts";
import { MockSplitQueue } from "./mock_split_queue.ts";

/** A device wired to mock driver queues, with counters of what it signalled. */
export interface MockDriver {
  mem: GuestMemory;
  queues: MockSplitQueue[];
  interrupts: { used: number; config: number };
  resetReasons: string[];
}

/**
 * Lays out one mock queue per device queue (64 KiB apart... 1 MiB data areas) and activates
 * the device with `features` (default: all it offers).
 *
 * @example
 * ```ts
 * const drv = activateWithMocks(new BlockDevice("blk0", backend));
 * drv.queues[0].addChain([...]);
 * device.queueNotify(0);
 * ```
 */
export function activateWithMocks(
  device: VirtioDevice,
  o: { memBytes?: number; queueSize?: number; features?: bigint; mem?: GuestMemory } = {},
): MockDriver {
  const n = device.queueMaxSizes.length;
  // `mem` (at least (queues + 1) * 2 MiB) for devices that need host addresses, such as net.
  const mem = o.mem ?? GuestMemory.fromBuffers(o.memBytes ?? (n + 1) * (2 << 20));
  const features = o.features ?? device.features;
  const drv: MockDriver = { mem, queues: [], interrupts: { used: 0, config: 0 }, resetReasons: [] };
  const queues = device.queueMaxSizes.map((max, i) => {
    const size = Math.min(o.queueSize ?? max, max);
    const mq = new MockSplitQueue(mem, (i + 1) * (2 << 20) - (2 << 20) + 0x10000, size, 2 << 20);
    drv.queues.push(mq);
    return new SplitQueue(mem, size, mq.addresses, { eventIdx: (features & (1n << 29n)) !== 0n });
  });
  device.activate({
    mem,
    queues,
    features,
    notifyUsed: () => drv.interrupts.used++,
    notifyConfig: () => drv.interrupts.config++,
    needsReset: (r) => drv.resetReasons.push(r),
  });
  return drv;
}
