/**
 * A VirtioDevice that records what the transport does to it, for transport tests.
 *
 * @module
 */

import { type ActivateContext, bit, VIRTIO_F, type VirtioDevice } from "../device.ts";

/**
 * A recording device with two queues and 8 bytes of config.
 *
 * @example
 * ```ts
 * const dev = new FakeDevice();
 * ```
 */
export class FakeDevice implements VirtioDevice {
  readonly deviceId = 42;
  readonly name = "fake";
  readonly features = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_EVENT_IDX) | 0b101n;
  readonly queueMaxSizes = [16, 8];
  readonly config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  activations: ActivateContext[] = [];
  notifies: number[] = [];
  resets = 0;

  readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.config[offset + i] ?? 0;
  }
  writeConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length && offset + i < this.config.length; i++) {
      this.config[offset + i] = data[i];
    }
  }
  activate(ctx: ActivateContext): void {
    this.activations.push(ctx);
  }
  queueNotify(index: number): void {
    this.notifies.push(index);
  }
  reset(): void {
    this.resets++;
  }
  quiesce(): Promise<void> {
    return Promise.resolve();
  }
}
