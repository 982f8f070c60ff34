/**
 * A full memory barrier for the store-then-load steps of virtqueue notification suppression.
 *
 * x86 keeps stores in order and loads in order, but a load may pass an earlier store (the store
 * buffer). Two places in a device need the store to be visible before the load, or a vCPU on
 * another thread and the device can each miss the other's update and both go to sleep:
 * - re-arming notifications (writing avail_event or clearing used.flags) and then re-reading
 *   avail.idx (virtio 1.2 §2.7.10: "the device MUST ... check ... again");
 * - publishing used.idx and then reading used_event / avail.flags to decide on an interrupt.
 * vhost uses `smp_mb()` at both points. JavaScript has no fence statement, but every
 * read-modify-write `Atomics` operation on shared memory compiles to a `lock`-prefixed
 * instruction on x86, which orders all earlier stores before all later loads.
 *
 * @module
 */

const cell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Orders every earlier memory store before every later load (like `smp_mb()`).
 *
 * @example
 * ```ts
 * q.setNotification(true);
 * memoryFence();
 * if (q.pending() > 0) keepGoing();
 * ```
 */
export function memoryFence(): void {
  Atomics.add(cell, 0, 0);
}
