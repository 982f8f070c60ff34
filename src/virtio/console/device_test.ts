import assert from "node:assert/strict";
import { activateWithMocks } from "../testing/activate.ts";
import type { MockSplitQueue } from "../testing/mock_split_queue.ts";
import { decodeControl, encodeControl, VIRTIO_CONSOLE } from "./control.ts";
import { ConsoleDevice, VIRTIO_CONSOLE_F } from "./device.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("single port: guest writes reach the host, host input fills receive buffers", async () => {
  const out: string[] = [];
  const dev = new ConsoleDevice("con", [{ output: (b) => out.push(dec.decode(b)) }]);
  assert.equal(dev.features & (1n << VIRTIO_CONSOLE_F.MULTIPORT), 0n);
  assert.equal(dev.queueMaxSizes.length, 2);
  const drv = activateWithMocks(dev);
  const [rx, tx] = drv.queues;
  tx.addChain([{ data: enc.encode("hello ") }, { data: enc.encode("hvc0") }]);
  dev.queueNotify(1);
  assert.equal(out.join(""), "hello hvc0");
  assert.equal(tx.used().length, 1);

  const sent = dev.sendInput(0, enc.encode("typed input"));
  const buf = rx.alloc(8);
  const buf2 = rx.alloc(8);
  rx.addChain([{ addr: buf, len: 8, write: true }]);
  rx.addChain([{ addr: buf2, len: 8, write: true }]);
  dev.queueNotify(0);
  await sent;
  assert.deepEqual(rx.used().map((u) => u.len), [8, 3]);
  assert.equal(
    dec.decode(drv.mem.slice(buf, 8)) + dec.decode(drv.mem.slice(buf2, 3)),
    "typed input",
  );
});

function controlMessages(q: MockSplitQueue, bufs: number[]) {
  return q.used().map((u, i) => {
    const bytes = q.mem.slice(bufs[i], u.len);
    return { ...decodeControl(bytes)!, extra: dec.decode(bytes.subarray(8)) };
  });
}

Deno.test("multiport: the control handshake names port 1 and opens both ports", async () => {
  const agentOut: string[] = [];
  const opens: boolean[] = [];
  const dev = new ConsoleDevice("con", [
    { output: () => {} },
    {
      name: "denovmm.agent",
      output: (b) => agentOut.push(dec.decode(b)),
      onGuestOpen: (o) => opens.push(o),
    },
  ]);
  assert.notEqual(dev.features & (1n << VIRTIO_CONSOLE_F.MULTIPORT), 0n);
  assert.equal(dev.queueMaxSizes.length, 6);
  const cfg = new Uint8Array(4);
  dev.readConfig(4, cfg);
  assert.equal(new DataView(cfg.buffer).getUint32(0, true), 2); // max_nr_ports
  const drv = activateWithMocks(dev);
  const crx = drv.queues[2];
  const ctx = drv.queues[3];
  const bufs = Array.from({ length: 16 }, () => crx.alloc(64));
  for (const b of bufs) crx.addChain([{ addr: b, len: 64, write: true }]);

  ctx.addChain([{ data: encodeControl({ id: 0, event: VIRTIO_CONSOLE.DEVICE_READY, value: 1 }) }]);
  dev.queueNotify(3);
  let msgs = controlMessages(crx, bufs);
  assert.deepEqual(msgs.map((m) => [m.id, m.event]), [[0, VIRTIO_CONSOLE.DEVICE_ADD], [
    1,
    VIRTIO_CONSOLE.DEVICE_ADD,
  ]]);

  ctx.addChain([{ data: encodeControl({ id: 0, event: VIRTIO_CONSOLE.PORT_READY, value: 1 }) }]);
  ctx.addChain([{ data: encodeControl({ id: 1, event: VIRTIO_CONSOLE.PORT_READY, value: 1 }) }]);
  dev.queueNotify(3);
  msgs = controlMessages(crx, bufs.slice(2));
  assert.deepEqual(msgs.map((m) => [m.id, m.event]), [
    [0, VIRTIO_CONSOLE.CONSOLE_PORT],
    [0, VIRTIO_CONSOLE.PORT_OPEN],
    [1, VIRTIO_CONSOLE.PORT_NAME],
    [1, VIRTIO_CONSOLE.PORT_OPEN],
  ]);
  assert.equal(msgs[2].extra, "denovmm.agent");

  ctx.addChain([{ data: encodeControl({ id: 1, event: VIRTIO_CONSOLE.PORT_OPEN, value: 1 }) }]);
  dev.queueNotify(3);
  assert.deepEqual(opens, [true]);
  assert.ok(dev.isGuestOpen(1));

  // Port 1 data both ways (queues 4 = receive, 5 = transmit).
  drv.queues[5].addChain([{ data: enc.encode("from guest") }]);
  dev.queueNotify(5);
  assert.equal(agentOut.join(""), "from guest");
  const r = drv.queues[4].alloc(32);
  drv.queues[4].addChain([{ addr: r, len: 32, write: true }]);
  await dev.sendInput(1, enc.encode("to guest"));
  assert.equal(dec.decode(drv.mem.slice(r, 8)), "to guest");
});

Deno.test("console: input waits for buffers and for PORT_READY; bad rings need reset", async () => {
  const dev = new ConsoleDevice("con", [{ output: () => {} }, { name: "p", output: () => {} }]);
  const drv = activateWithMocks(dev);
  let delivered = false;
  const p = dev.sendInput(1, enc.encode("x")).then(() => (delivered = true));
  drv.queues[4].addChain([{ len: 8, write: true }]);
  dev.queueNotify(4);
  await Promise.resolve();
  assert.equal(delivered, false, "not before the port is ready");
  drv.queues[3].addChain([{
    data: encodeControl({ id: 1, event: VIRTIO_CONSOLE.PORT_READY, value: 1 }),
  }]);
  dev.queueNotify(3);
  await p;
  assert.equal(delivered, true);
  drv.queues[1].setAvailIdx(999);
  dev.queueNotify(1);
  assert.equal(drv.resetReasons.length, 1);
});
