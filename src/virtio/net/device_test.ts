import assert from "node:assert/strict";
import { TUN_F } from "../../../ffi/kvm_ioctls.ts";
import { bit, VIRTIO_F } from "../device.ts";
import { VIRTQ_USED_F_NO_NOTIFY } from "../queue/split_queue.ts";
import { activateWithMocks } from "../testing/activate.ts";
import { FakeNetBackend } from "../testing/fake_net_backend.ts";
import { mappedGuestMemory } from "../testing/mapped_memory.ts";
import { WOULD_BLOCK } from "./backend.ts";
import {
  emptyNetHeader,
  encodeNetHeader,
  NET_HDR_SIZE,
  type NetHeader,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_F,
  VIRTIO_NET_HDR_GSO,
} from "./header.ts";
import { NET_CONFIG, NET_FEATURES, NetDevice, VIRTIO_NET_S } from "./device.ts";
import { defaultMac, formatMac, parseMac } from "./mac.ts";

const without = (...fs: bigint[]) => fs.reduce((a, f) => a & ~bit(f), NET_FEATURES);

function hdr(h: Partial<NetHeader> = {}): Uint8Array {
  const b = new Uint8Array(NET_HDR_SIZE);
  encodeNetHeader({ ...emptyNetHeader(), ...h }, b);
  return b;
}

/** An Ethernet frame of `len` bytes whose payload is a counter starting at `seed`. */
function frame(len: number, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00]);
  for (let i = 14; i < len; i++) f[i] = (seed + i) & 0xff;
  return f;
}

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function setup(o: { features?: bigint; queueSize?: number } = {}) {
  const mapped = mappedGuestMemory(6 << 20);
  const be = new FakeNetBackend("tap-test");
  const dev = new NetDevice("net0", be);
  const drv = activateWithMocks(dev, { mem: mapped.memory, ...o });
  return {
    be,
    dev,
    drv,
    rxq: drv.queues[0],
    txq: drv.queues[1],
    mem: drv.mem,
    [Symbol.dispose]: () => mapped[Symbol.dispose](),
  };
}

Deno.test("net config: MAC given or derived from the tap, link up, the offered features", () => {
  const be = new FakeNetBackend("tap7");
  const dev = new NetDevice("net0", be, { mac: "02:AB:cd:00:00:09" });
  const cfg = new Uint8Array(NET_CONFIG.SIZE + 2);
  dev.readConfig(0, cfg);
  assert.deepEqual([...cfg.subarray(0, 6)], [0x02, 0xab, 0xcd, 0, 0, 9]);
  assert.equal(cfg[NET_CONFIG.STATUS], VIRTIO_NET_S.LINK_UP);
  assert.equal(cfg[NET_CONFIG.MAX_VIRTQUEUE_PAIRS], 1);
  assert.equal(cfg[NET_CONFIG.SIZE], 0, "nothing past the config");
  dev.writeConfig();
  assert.equal(dev.mac, "02:ab:cd:00:00:09");

  const auto = new NetDevice("net1", new FakeNetBackend("tap7"));
  assert.equal(auto.mac, formatMac(defaultMac("tap7")), "stable for the same tap");
  assert.notEqual(formatMac(defaultMac("tap8")), auto.mac);
  const m = defaultMac("anything");
  assert.equal(m[0] & 0x03, 0x02, "locally administered, unicast");

  assert.throws(() => parseMac("01:00:5e:00:00:01"), /multicast/);
  assert.throws(() => parseMac("02:00:00:00:00"), /not a MAC address/);
  assert.throws(() => parseMac("00:00:00:00:00:00"), /not a usable/);
  for (
    const f of [
      VIRTIO_F.VERSION_1,
      VIRTIO_F.RING_EVENT_IDX,
      VIRTIO_NET_F.MAC,
      VIRTIO_NET_F.STATUS,
      VIRTIO_NET_F.MRG_RXBUF,
      VIRTIO_NET_F.CSUM,
      VIRTIO_NET_F.GUEST_CSUM,
      VIRTIO_NET_F.HOST_TSO4,
      VIRTIO_NET_F.HOST_TSO6,
      VIRTIO_NET_F.GUEST_TSO4,
      VIRTIO_NET_F.GUEST_TSO6,
    ]
  ) assert.notEqual(dev.features & bit(f), 0n, `feature ${f}`);
  assert.equal(dev.features & bit(VIRTIO_NET_F.CTRL_VQ), 0n);
  assert.equal(dev.features & bit(VIRTIO_NET_F.MQ), 0n);
});

Deno.test("net offloads: TUNSETOFFLOAD gets what the driver accepted, 0 again on reset", () => {
  {
    using s = setup();
    assert.equal(s.be.offload, TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6);
    assert.equal(s.be.readable, false, "no receive buffers yet: the tap is not read");
    s.rxq.addChain([{ len: 2048, write: true }]);
    s.dev.queueNotify(0);
    assert.equal(s.be.readable, true, "reads the tap once it has a buffer");
    s.dev.reset();
    assert.equal(s.be.offload, 0);
    assert.equal(s.be.readable, false);
  }
  {
    using s = setup({ features: without(VIRTIO_NET_F.GUEST_CSUM) });
    assert.equal(s.be.offload, 0);
  }
  {
    using s = setup({ features: without(VIRTIO_NET_F.GUEST_TSO6) });
    assert.equal(s.be.offload, TUN_F.CSUM | TUN_F.TSO4);
  }
});

Deno.test("net tx: header and frame over several descriptors reach the tap as one frame", () => {
  using s = setup();
  const f = frame(1000);
  const h = hdr({ flags: VIRTIO_NET_HDR_F.NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
  // The header itself split 5 + 7, the frame split 300 + 700, through an indirect table.
  const head = s.txq.addChain([
    { data: h.subarray(0, 5) },
    { data: cat(h.subarray(5), f.subarray(0, 300)) },
    { data: f.subarray(300) },
  ], { indirect: true });
  s.dev.queueNotify(1);
  assert.equal(s.be.sent.length, 1);
  assert.deepEqual(s.be.sent[0], cat(h, f));
  assert.deepEqual(s.txq.used(), [{ id: head, len: 0 }]);
  assert.equal(s.dev.counters.txFrames, 1);
  assert.equal(s.dev.counters.txBytes, 1000);
  assert.equal(s.drv.interrupts.used, 1);
  assert.match(
    s.dev.summary(),
    /^net0 on tap-test: received 0 frames \(0 GSO\), .*; sent 1 frames \(0 TSO\), 1 KiB, 0 refused/,
  );
});

Deno.test("net tx: TSO frames pass when negotiated; unnegotiated offloads and malformed chains are dropped, not fatal", () => {
  const tso = hdr({
    flags: VIRTIO_NET_HDR_F.NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO.TCPV4,
    gsoSize: 1448,
    hdrLen: 54,
    csumStart: 34,
    csumOffset: 16,
  });
  {
    using s = setup();
    s.txq.addChain([{ data: cat(tso, frame(60000)) }]);
    s.dev.queueNotify(1);
    assert.equal(s.be.sent.length, 1);
    assert.equal(s.be.sent[0][1], VIRTIO_NET_HDR_GSO.TCPV4);
    assert.equal(s.dev.counters.txGsoFrames, 1);
  }
  using s = setup({ features: without(VIRTIO_NET_F.HOST_TSO4) });
  const heads = [
    s.txq.addChain([{ data: cat(tso, frame(60000)) }]), // TSO4 not negotiated
    s.txq.addChain([{ data: hdr() }]), // header only
    s.txq.addChain([{ data: new Uint8Array(8) }]), // shorter than a header
    s.txq.addChain([{ data: cat(hdr(), frame(100)) }, { len: 64, write: true }]), // writable part
    s.txq.addChain([{ data: cat(hdr(), frame(65600)) }]), // larger than any frame
    s.txq.addChain([{ data: cat(hdr(), frame(60)) }]), // fine
  ];
  s.dev.queueNotify(1);
  assert.deepEqual(s.txq.used().map((u) => u.id), heads, "every chain comes back");
  assert.equal(s.be.sent.length, 1);
  assert.equal(s.be.sent[0].length, NET_HDR_SIZE + 60);
  assert.equal(s.dev.counters.errors, 5);
  assert.deepEqual(s.drv.resetReasons, []);
});

Deno.test("net tx: a full tap puts the chain back and resumes on writable", () => {
  using s = setup();
  s.be.writeResult = WOULD_BLOCK;
  const a = s.txq.addChain([{ data: cat(hdr(), frame(60, 1)) }]);
  const b = s.txq.addChain([{ data: cat(hdr(), frame(60, 2)) }]);
  s.dev.queueNotify(1);
  assert.deepEqual(s.txq.used(), []);
  assert.equal(s.be.writable, true, "waits for EPOLLOUT");
  assert.equal(s.dev.counters.txWaits, 1);
  s.dev.queueNotify(1); // kicks while blocked change nothing
  assert.deepEqual(s.txq.used(), []);
  s.be.writeResult = undefined;
  assert.ok(s.be.fireWritable());
  assert.deepEqual(s.txq.used().map((u) => u.id), [a, b]);
  assert.equal(s.be.sent.length, 2);
  assert.equal(s.be.writable, false);
  s.be.writeResult = -5; // EIO: the tap is down
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.txq.used().length, 1);
  assert.equal(s.dev.counters.txDrops, 1);
});

Deno.test("net rx: one frame per buffer without mergeable buffers; num_buffers 1, flags 0", () => {
  using s = setup({ features: without(VIRTIO_NET_F.MRG_RXBUF, VIRTIO_NET_F.GUEST_CSUM) });
  const buf = s.rxq.alloc(1526);
  const head = s.rxq.addChain([{ addr: buf, len: 1526, write: true }]);
  s.dev.queueNotify(0);
  const f = frame(1514);
  s.be.inject(cat(hdr({ flags: VIRTIO_NET_HDR_F.DATA_VALID, numBuffers: 99 }), f));
  assert.ok(s.be.fireReadable());
  assert.deepEqual(s.rxq.used(), [{ id: head, len: NET_HDR_SIZE + 1514 }]);
  const got = s.mem.slice(buf, NET_HDR_SIZE + 1514);
  assert.deepEqual([...got.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(got.subarray(12), f);
  assert.equal(s.dev.counters.rxFrames, 1);
  assert.equal(s.dev.counters.rxBytes, 1514);
  assert.equal(s.drv.interrupts.used, 1);
});

Deno.test("net rx: a frame spread over mergeable buffers, used together, rest held for the next", () => {
  using s = setup();
  const bufs = [0, 1, 2, 3].map(() => s.rxq.alloc(1000));
  const heads = bufs.map((addr) => s.rxq.addChain([{ addr, len: 1000, write: true }]));
  s.dev.queueNotify(0);
  const f = frame(2500, 7);
  s.be.inject(cat(hdr({ flags: VIRTIO_NET_HDR_F.DATA_VALID }), f));
  s.be.inject(cat(hdr(), frame(100, 9)));
  s.be.fireReadable();
  assert.deepEqual(s.rxq.used(), [
    { id: heads[0], len: 1000 },
    { id: heads[1], len: 1000 },
    { id: heads[2], len: 512 },
    { id: heads[3], len: 112 },
  ]);
  const h0 = s.mem.slice(bufs[0], 12);
  assert.equal(h0[0], VIRTIO_NET_HDR_F.DATA_VALID, "kept with GUEST_CSUM");
  assert.equal(h0[10], 3, "num_buffers");
  const got = cat(
    s.mem.slice(bufs[0] + 12, 988),
    s.mem.slice(bufs[1], 1000),
    s.mem.slice(bufs[2], 512),
  );
  assert.deepEqual(got, f);
  assert.equal(s.mem.slice(bufs[3], 12)[10], 1);
  assert.deepEqual(s.mem.slice(bufs[3] + 12, 100), frame(100, 9));
  assert.equal(s.dev.counters.rxFrames, 2);
  assert.equal(s.drv.interrupts.used, 1, "one interrupt for the batch");
});

Deno.test("net rx: out of buffers, the device stops reading the tap and drops nothing", () => {
  using s = setup();
  for (let i = 0; i < 3; i++) s.be.inject(cat(hdr(), frame(200, i)));
  s.be.fireReadable();
  assert.equal(s.be.inbox.length, 3, "frames stay in the tap");
  assert.equal(s.be.readable, false, "stopped reading");
  assert.equal(s.dev.counters.rxStalls, 1);
  assert.equal(s.rxq.availEvent(), 0, "EVENT_IDX: kick me at the next buffer");
  const bufs = [0, 1].map(() => s.rxq.alloc(2048));
  for (const addr of bufs) s.rxq.addChain([{ addr, len: 2048, write: true }]);
  s.dev.queueNotify(0);
  assert.equal(s.rxq.used().length, 2);
  assert.deepEqual(s.mem.slice(bufs[1] + 12, 200), frame(200, 1));
  assert.equal(s.be.inbox.length, 1);
  assert.equal(s.be.readable, false, "stalled again on the third frame");
  assert.equal(s.rxq.availEvent(), 2);
  s.rxq.addChain([{ len: 2048, write: true }]);
  s.rxq.addChain([{ len: 2048, write: true }]);
  s.dev.queueNotify(0);
  assert.equal(s.rxq.used().length, 1);
  assert.equal(s.be.inbox.length, 0);
  assert.equal(s.be.readable, true, "reading again while it holds a buffer");
  assert.equal(s.dev.counters.rxDrops, 0);
});

Deno.test("net rx: a frame larger than the posted buffers waits for more of them", () => {
  using s = setup();
  const bufs = [0, 1].map(() => s.rxq.alloc(1000));
  const heads = bufs.map((addr) => s.rxq.addChain([{ addr, len: 1000, write: true }]));
  s.dev.queueNotify(0);
  const f = frame(3000, 3);
  s.be.inject(cat(hdr(), f));
  s.be.inject(cat(hdr(), frame(60)));
  s.be.fireReadable();
  assert.deepEqual(s.rxq.used(), [], "nothing is returned before the whole frame is in place");
  assert.equal(s.be.readable, false);
  assert.equal(s.be.inbox.length, 1, "the next frame waits in the tap");
  const more = [0, 1].map(() => s.rxq.alloc(1000));
  const moreHeads = more.map((addr) => s.rxq.addChain([{ addr, len: 1000, write: true }]));
  s.dev.queueNotify(0);
  const used = s.rxq.used();
  assert.deepEqual(used.slice(0, 4), [
    { id: heads[0], len: 1000 },
    { id: heads[1], len: 1000 },
    { id: moreHeads[0], len: 1000 },
    { id: moreHeads[1], len: 12 },
  ]);
  assert.equal(s.mem.slice(bufs[0], 12)[10], 4);
  const got = cat(
    s.mem.slice(bufs[0] + 12, 988),
    s.mem.slice(bufs[1], 1000),
    s.mem.slice(more[0], 1000),
    s.mem.slice(more[1], 12),
  );
  assert.deepEqual(got, f);
  assert.equal(s.dev.counters.rxDrops, 0);
});

Deno.test("net rx: frames too big for a non-mergeable buffer, runts and unusable buffers", () => {
  using s = setup({ features: without(VIRTIO_NET_F.MRG_RXBUF) });
  const bad1 = s.rxq.addChain([{ len: 8, write: true }]); // shorter than a header
  const bad2 = s.rxq.addChain([{ data: new Uint8Array(4) }, { len: 2000, write: true }]);
  const good = s.rxq.addChain([{ len: 1526, write: true }]);
  s.dev.queueNotify(0);
  s.be.inject(cat(hdr(), frame(4000))); // does not fit: dropped, the buffer is reused
  s.be.inject(new Uint8Array(20)); // a runt
  s.be.inject(cat(hdr(), frame(600)));
  s.be.fireReadable();
  assert.deepEqual(s.rxq.used(), [
    { id: bad1, len: 0 },
    { id: bad2, len: 0 },
    { id: good, len: 612 },
  ]);
  assert.equal(s.dev.counters.errors, 2);
  assert.equal(s.dev.counters.rxDrops, 2);
  assert.deepEqual(s.drv.resetReasons, []);
});

Deno.test("net rx: GSO frames reach a driver that took GUEST_TSO4 (over mergeable buffers)", () => {
  using s = setup();
  for (let i = 0; i < 20; i++) s.rxq.addChain([{ len: 4096, write: true }]);
  s.dev.queueNotify(0);
  const gso = hdr({
    flags: VIRTIO_NET_HDR_F.NEEDS_CSUM,
    gsoType: VIRTIO_NET_HDR_GSO.TCPV4,
    gsoSize: 1448,
    hdrLen: 54,
    csumStart: 34,
    csumOffset: 16,
  });
  s.be.inject(cat(gso, frame(65000)));
  s.be.fireReadable();
  const used = s.rxq.used();
  assert.equal(used.length, 16);
  assert.equal(used.reduce((n, u) => n + u.len, 0), 65012);
  assert.equal(s.dev.counters.rxBytes, 65000);
  assert.equal(s.dev.counters.rxGsoFrames, 1);
});

Deno.test("net notifications: no kicks asked while the device holds buffers (no EVENT_IDX)", () => {
  using s = setup({ features: without(VIRTIO_F.RING_EVENT_IDX) });
  s.dev.queueNotify(0);
  assert.equal(s.rxq.usedFlags(), 0, "empty: kick me");
  s.rxq.addChain([{ len: 2048, write: true }]);
  s.dev.queueNotify(0);
  assert.equal(s.rxq.usedFlags(), VIRTQ_USED_F_NO_NOTIFY, "holding a buffer: no kicks");
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.txq.usedFlags(), 0, "tx drained: kick me again");
  assert.equal(s.drv.interrupts.used, 1);
  s.txq.setAvailFlags(1); // VIRTQ_AVAIL_F_NO_INTERRUPT
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.drv.interrupts.used, 1, "the driver asked for no interrupt");
});

Deno.test("net notifications: EVENT_IDX used_event suppresses interrupts, avail_event re-arms kicks", () => {
  using s = setup();
  s.txq.setUsedEvent(2); // interrupt when the third used entry is added
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.drv.interrupts.used, 1, "the first interrupt always goes");
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.drv.interrupts.used, 1, "used_event not reached: suppressed");
  s.txq.addChain([{ data: cat(hdr(), frame(60)) }]);
  s.dev.queueNotify(1);
  assert.equal(s.drv.interrupts.used, 2);
  assert.equal(s.txq.availEvent(), 3, "kick me when chain 3 is added");
});

Deno.test("net: a malformed ring puts the device in needs-reset, it never throws", () => {
  using s = setup();
  s.txq.setAvailIdx(1000);
  s.dev.queueNotify(1);
  assert.equal(s.drv.resetReasons.length, 1);
  assert.match(s.drv.resetReasons[0], /avail.idx moved/);
  using t = setup();
  t.rxq.writeDescriptor(0, { addr: 0xffff_ffff_0000n, len: 100, flags: 2, next: 0 });
  t.rxq.publish(0);
  t.dev.queueNotify(0);
  assert.match(t.drv.resetReasons[0], /outside guest RAM/);
});

Deno.test("net: a tap that disappears takes the link down with a config interrupt", () => {
  using s = setup();
  s.be.handlers!.failed("tap tap-test is gone");
  assert.equal(s.dev.linkUp, false);
  assert.equal(s.drv.interrupts.config, 1);
  const cfg = new Uint8Array(NET_CONFIG.SIZE);
  s.dev.readConfig(0, cfg);
  assert.equal(cfg[NET_CONFIG.STATUS], 0);
});

Deno.test("net: no per-frame allocation on the receive and transmit paths", () => {
  using s = setup();
  const RX = 16;
  const rxBufs = Array.from({ length: RX }, () => s.rxq.alloc(2048));
  const rxHeads = rxBufs.map((addr) => s.rxq.addChain([{ addr, len: 2048, write: true }]));
  const txBufs = Array.from({ length: 16 }, () => s.txq.alloc(NET_HDR_SIZE + 1514));
  const txHeads = txBufs.map((addr) => {
    s.mem.write(addr, cat(hdr(), frame(1514)));
    return s.txq.addChain([{ addr, len: NET_HDR_SIZE + 1514 }]);
  });
  s.dev.queueNotify(0);
  s.dev.queueNotify(1);
  s.rxq.used();
  s.txq.used();
  s.be.keepSent = false;
  s.be.loop = true;
  for (let i = 0; i < 4; i++) s.be.inject(cat(hdr(), frame(1514, i)));
  // One round: the driver republishes what the device used, the device serves 16 frames each way.
  const round = () => {
    for (const h of rxHeads) s.rxq.publish(h);
    s.dev.queueNotify(0);
    for (let i = 0; i < RX; i++) s.be.fireReadable();
    for (const h of txHeads) s.txq.publish(h);
    s.dev.queueNotify(1);
  };
  for (let i = 0; i < 10_000; i++) round(); // warm up: let the JIT compile the paths
  const samples: number[] = [];
  const before = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < 100; i++) {
    for (let j = 0; j < 300; j++) round();
    samples.push(Deno.memoryUsage().heapUsed);
  }
  const frames = 100 * 300 * 16; // each way
  const grown = samples[samples.length - 1] - before;
  const gcs = samples.filter((v, i) => i > 0 && v < samples[i - 1]).length;
  assert.ok(s.dev.counters.rxFrames >= frames && s.dev.counters.txFrames >= frames);
  console.log(`heap: ${grown} bytes over ${2 * frames} frames, ${gcs} collections`);
  // One 16-byte object per frame would be 15 MB, one per round of 32 frames 1 MB: either the
  // heap grows by that or a scavenge shows. What remains is the JIT's own late work.
  assert.equal(gcs, 0, `the heap shrank ${gcs} times: something was collected`);
  assert.ok(grown < 1 << 20, `heap grew ${grown} bytes over ${2 * frames} frames`);
});
