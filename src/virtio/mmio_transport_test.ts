import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { MockSplitQueue } from "./testing/mock_split_queue.ts";
import { FakeDevice } from "./testing/fake_device.ts";
import { INT, MAGIC, MmioTransport, REG, STATUS } from "./mmio_transport.ts";

function setup() {
  const mem = GuestMemory.fromBuffers(4 << 20);
  const dev = new FakeDevice();
  let irqs = 0;
  const t = new MmioTransport(dev, mem, { trigger: () => irqs++ });
  const r = (off: number) => {
    const d = new Uint8Array(4);
    t.read(off, d);
    return new DataView(d.buffer).getUint32(0, true);
  };
  const w = (off: number, v: number) => {
    const d = new Uint8Array(4);
    new DataView(d.buffer).setUint32(0, v >>> 0, true);
    t.write(off, d);
  };
  return { mem, dev, t, r, w, irqs: () => irqs };
}

/** Drives the §3.1.1 initialisation up to FEATURES_OK with the given features. */
function negotiate(s: ReturnType<typeof setup>, features: bigint) {
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  s.w(REG.DRIVER_FEATURES_SEL, 0);
  s.w(REG.DRIVER_FEATURES, Number(features & 0xffffffffn));
  s.w(REG.DRIVER_FEATURES_SEL, 1);
  s.w(REG.DRIVER_FEATURES, Number(features >> 32n));
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
}

function setupQueue(s: ReturnType<typeof setup>, index: number, base: number, size: number) {
  const q = new MockSplitQueue(s.mem, base, size);
  s.w(REG.QUEUE_SEL, index);
  s.w(REG.QUEUE_NUM, size);
  s.w(REG.QUEUE_DESC_LOW, q.addresses.desc);
  s.w(REG.QUEUE_DESC_HIGH, 0);
  s.w(REG.QUEUE_DRIVER_LOW, q.addresses.avail);
  s.w(REG.QUEUE_DEVICE_LOW, q.addresses.used);
  s.w(REG.QUEUE_READY, 1);
  return q;
}

Deno.test("identification registers (§4.2.2)", () => {
  const s = setup();
  assert.equal(s.r(REG.MAGIC_VALUE), MAGIC);
  assert.equal(s.r(REG.VERSION), 2);
  assert.equal(s.r(REG.DEVICE_ID), 42);
  s.w(REG.DEVICE_FEATURES_SEL, 0);
  assert.equal(s.r(REG.DEVICE_FEATURES), Number(s.dev.features & 0xffffffffn));
  s.w(REG.DEVICE_FEATURES_SEL, 1);
  assert.equal(s.r(REG.DEVICE_FEATURES), 1); // VERSION_1 is bit 32
  s.w(REG.DEVICE_FEATURES_SEL, 7);
  assert.equal(s.r(REG.DEVICE_FEATURES), 0);
  s.w(REG.QUEUE_SEL, 1);
  assert.equal(s.r(REG.QUEUE_NUM_MAX), 8);
  s.w(REG.QUEUE_SEL, 5);
  assert.equal(s.r(REG.QUEUE_NUM_MAX), 0); // no such queue
  assert.equal(s.r(REG.SHM_LEN_LOW), 0xffffffff);
});

Deno.test("full initialisation activates the device with the negotiated features", () => {
  const s = setup();
  negotiate(s, (1n << 32n) | (1n << 29n) | 1n);
  assert.equal(s.r(REG.STATUS) & STATUS.FEATURES_OK, STATUS.FEATURES_OK);
  setupQueue(s, 0, 0x10000, 16);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.equal(s.dev.activations.length, 1);
  const ctx = s.dev.activations[0];
  assert.equal(ctx.features, (1n << 32n) | (1n << 29n) | 1n);
  assert.ok(ctx.queues[0] !== undefined);
  assert.equal(ctx.queues[1], undefined);
  s.w(REG.QUEUE_NOTIFY, 0);
  assert.deepEqual(s.dev.notifies, [0]);
  s.t.notifyQueue(9); // out of range: ignored
  assert.deepEqual(s.dev.notifies, [0]);
});

Deno.test("status: skipping a step or clearing a bit is ignored; FAILED is always accepted", () => {
  const s = setup();
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER_OK);
  assert.equal(s.r(REG.STATUS), 0);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  s.w(REG.STATUS, STATUS.DRIVER);
  assert.equal(s.r(REG.STATUS), STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FAILED);
  assert.equal(s.r(REG.STATUS) & STATUS.FAILED, STATUS.FAILED);
  assert.equal(s.dev.activations.length, 0);
});

Deno.test("FEATURES_OK is refused without VERSION_1 or with unoffered features", () => {
  for (const f of [1n, (1n << 32n) | (1n << 40n)]) {
    const s = setup();
    negotiate(s, f);
    assert.equal(s.r(REG.STATUS) & STATUS.FEATURES_OK, 0);
  }
});

Deno.test("queue registers are frozen while the queue is ready; a bad queue needs reset", () => {
  const s = setup();
  negotiate(s, 1n << 32n);
  setupQueue(s, 0, 0x10000, 16);
  s.w(REG.QUEUE_NUM, 4); // ignored: queue is ready
  s.w(REG.STATUS, 0xf & ~STATUS.FAILED & 0x0f);
  assert.equal(s.dev.activations[0].queues[0]!.size, 16);

  const b = setup();
  negotiate(b, 1n << 32n);
  b.w(REG.QUEUE_SEL, 1);
  b.w(REG.QUEUE_NUM, 64); // above QueueNumMax (8)
  b.w(REG.QUEUE_READY, 1);
  assert.equal(b.r(REG.QUEUE_READY), 0);
  assert.equal(b.r(REG.STATUS) & STATUS.DEVICE_NEEDS_RESET, STATUS.DEVICE_NEEDS_RESET);

  const c = setup();
  negotiate(c, 1n << 32n);
  c.w(REG.QUEUE_SEL, 0);
  c.w(REG.QUEUE_NUM, 16);
  c.w(REG.QUEUE_DESC_LOW, 0xfff0_0000); // outside RAM
  c.w(REG.QUEUE_READY, 1);
  assert.equal(c.r(REG.STATUS) & STATUS.DEVICE_NEEDS_RESET, STATUS.DEVICE_NEEDS_RESET);
});

Deno.test("interrupts: status bits set before the trigger, cleared by ACK; config generation", () => {
  const s = setup();
  negotiate(s, 1n << 32n);
  setupQueue(s, 0, 0x10000, 16);
  s.w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  const ctx = s.dev.activations[0];
  ctx.notifyUsed();
  assert.equal(s.irqs(), 1);
  assert.equal(s.r(REG.INTERRUPT_STATUS), INT.VRING);
  const gen = s.r(REG.CONFIG_GENERATION);
  ctx.notifyConfig();
  assert.equal(s.r(REG.INTERRUPT_STATUS), INT.VRING | INT.CONFIG);
  assert.equal(s.r(REG.CONFIG_GENERATION), gen + 1);
  s.w(REG.INTERRUPT_ACK, INT.VRING);
  assert.equal(s.r(REG.INTERRUPT_STATUS), INT.CONFIG);
  ctx.needsReset("test");
  assert.equal(s.r(REG.STATUS) & STATUS.DEVICE_NEEDS_RESET, STATUS.DEVICE_NEEDS_RESET);
  assert.equal(s.dev.resets, 1);
  s.w(REG.QUEUE_NOTIFY, 0); // inactive now: not forwarded
  assert.deepEqual(s.dev.notifies, []);
});

Deno.test("writing 0 to status resets the device and the transport", () => {
  const s = setup();
  negotiate(s, 1n << 32n);
  setupQueue(s, 0, 0x10000, 16);
  s.w(REG.STATUS, 0);
  assert.equal(s.r(REG.STATUS), 0);
  assert.equal(s.dev.resets, 1);
  s.w(REG.QUEUE_SEL, 0);
  assert.equal(s.r(REG.QUEUE_READY), 0);
});

Deno.test("config space: any width; registers need 32-bit accesses", () => {
  const s = setup();
  const b = new Uint8Array(2);
  s.t.read(REG.CONFIG + 2, b);
  assert.deepEqual([...b], [3, 4]);
  s.t.write(REG.CONFIG + 1, new Uint8Array([9]));
  assert.equal(s.dev.config[1], 9);
  const one = new Uint8Array(1);
  s.t.read(REG.MAGIC_VALUE, one);
  assert.equal(one[0], 0);
  s.t.write(REG.STATUS, new Uint8Array([1])); // 8-bit write to a register: ignored
  assert.equal(s.r(REG.STATUS), 0);
});
