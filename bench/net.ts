/**
 * virtio-net device-path benchmark: the real NetDevice and TapBackend driven by a driver-side
 * queue in plain memory (no guest), beside raw readv/writev on the same taps from the same
 * process in the same run.
 *
 * Everything happens in a private network namespace the benchmark creates and removes:
 * - transmit: frames go into tap `tx`, whose kernel side drops them at once (nobody listens on
 *   that EtherType, and GSO frames are addressed to another host), so the figure is what it
 *   costs to hand frames to the kernel;
 * - receive: frames written into tap `inj` cross a bridge into tap `rx`, untimed, and then are
 *   read from `rx`, timed (through the epoll event loop for the device path).
 * Workloads: 64-byte frames (Mpps), 1514-byte frames and 64 KiB TSO/GSO frames (Gbit/s); each
 * figure is the median of `--runs` passes (default 5). The device path's frames come from and
 * land in guest-memory buffers the driver reuses; raw frames use one host buffer.
 *
 * Usage (root): `deno task bench:net [--runs N]`, i.e. `deno run -A bench/net.ts`
 *
 * @module
 */

import { EventLoop } from "../src/vmm/event_loop.ts";
import { NetDevice } from "../src/virtio/net/device.ts";
import { NET_HDR_SIZE, VIRTIO_NET_HDR_F, VIRTIO_NET_HDR_GSO } from "../src/virtio/net/header.ts";
import { addressOf, fixedBytes, IoVecs } from "../src/virtio/net/iovecs.ts";
import { TapBackend } from "../src/virtio/net/tap_backend.ts";
import type { NetBackend, NetBackendHandlers } from "../src/virtio/net/backend.ts";
import { EventFd } from "../src/vmm/eventfd.ts";
import { ip, sweepStaleNetns, TapSetup } from "../src/virtio/net/tap_setup.ts";
import { SplitQueue, VIRTQ_DESC_F } from "../src/virtio/queue/split_queue.ts";
import { MockSplitQueue } from "../src/virtio/testing/mock_split_queue.ts";
import { mappedGuestMemory } from "../src/virtio/testing/mapped_memory.ts";
import { TUN_F } from "../ffi/kvm_ioctls.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const RUNS = Number(args.runs ?? 5);
const QSIZE = 256;
const RX_BUF = 4096;

if (Deno.uid() !== 0) {
  console.error("bench/net.ts needs root (it creates a network namespace with taps and a bridge)");
  Deno.exit(2);
}

interface Workload {
  name: string;
  /** Ethernet frame bytes (no vnet header). */
  len: number;
  gso: boolean;
  /** Frames per timed pass. */
  tx: number;
  /** Frames injected, then read, per receive pass. */
  rx: number;
}

const workloads: Workload[] = [
  { name: "64 B frames", len: 64, gso: false, tx: 200_000, rx: 8192 },
  { name: "1514 B frames", len: 1514, gso: false, tx: 100_000, rx: 4096 },
  { name: "64 KiB TSO frames", len: 65_000, gso: true, tx: 10_000, rx: 1024 },
];

// ---- frames ---------------------------------------------------------------------------------

const DST = [0x02, 0, 0, 0, 0, 0x09];
const SRC = [0x02, 0, 0, 0, 0, 0x08];

/** vnet header + frame. Plain frames carry an EtherType nobody handles; GSO ones are IPv4/TCP. */
function makeFrame(w: Workload): Uint8Array {
  const f = fixedBytes(NET_HDR_SIZE + w.len);
  const e = NET_HDR_SIZE;
  f.set([...DST, ...SRC], e);
  if (!w.gso) {
    f.set([0x88, 0xb5], e + 12);
    for (let i = e + 14; i < f.length; i++) f[i] = i & 0xff;
    return f;
  }
  const v = new DataView(f.buffer);
  f[0] = VIRTIO_NET_HDR_F.NEEDS_CSUM;
  f[1] = VIRTIO_NET_HDR_GSO.TCPV4;
  v.setUint16(2, 54, true); // hdr_len
  v.setUint16(4, 1448, true); // gso_size
  v.setUint16(6, 34, true); // csum_start
  v.setUint16(8, 16, true); // csum_offset
  f.set([0x08, 0x00], e + 12);
  const ipAt = e + 14;
  f.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 88, 0, 1, 10, 88, 0, 2], ipAt);
  new DataView(f.buffer).setUint16(ipAt + 2, w.len - 14);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (f[ipAt + i] << 8) | f[ipAt + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  new DataView(f.buffer).setUint16(ipAt + 10, ~sum & 0xffff);
  const tcp = ipAt + 20;
  f.set([0x30, 0x39, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], tcp);
  return f;
}

// ---- the namespace --------------------------------------------------------------------------

/** Sets up the namespace, runs every pass, prints the table, removes the namespace. */
async function main(): Promise<void> {
  await sweepStaleNetns();
  const txTap = await TapSetup.create({ netns: true, tap: "dvb-tx", ipv6: false });
  const ns = txTap.netns!;
  const injTap = await TapSetup.create({
    netns: ns,
    tap: "dvb-inj",
    ipv6: false,
    txqueuelen: 20000,
  });
  const rxTap = await TapSetup.create({ netns: ns, tap: "dvb-rx", ipv6: false, txqueuelen: 20000 });
  const loop = new EventLoop((e) => console.error(e));
  const opened: TapBackend[] = [];
  try {
    await ip(["-n", ns, "link", "add", "br0", "type", "bridge"]);
    await ip([
      "netns",
      "exec",
      ns,
      "sh",
      "-c",
      [
        "echo 1 > /proc/sys/net/ipv6/conf/br0/disable_ipv6",
        "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true",
      ].join("; "),
    ]);
    for (const t of [injTap, rxTap]) await ip(["-n", ns, "link", "set", t.tap, "master", "br0"]);
    await ip(["-n", ns, "link", "set", "br0", "up"]);

    const tx = TapBackend.open(txTap.tap, { loop, netns: ns });
    const inj = TapBackend.open(injTap.tap, { loop, netns: ns });
    const rx = TapBackend.open(rxTap.tap, { loop, netns: ns });
    opened.push(tx, inj, rx);
    loop.start();
    await new Promise((r) => setTimeout(r, 300)); // carriers up, bridge ports forwarding

    const rows: string[] = [];
    let alloc = "";
    for (const w of workloads) {
      const frame = makeFrame(w);
      const r: Record<string, number[]> = {
        devTx: [],
        rawTx: [],
        devRx: [],
        loopRx: [],
        rawRx: [],
      };
      for (let run = 0; run < RUNS; run++) {
        r.devTx.push(deviceTx(tx, w, frame));
        r.rawTx.push(rawTx(tx, w, frame));
        r.devRx.push(await deviceRx(rx, inj, w, frame, "direct"));
        r.loopRx.push(await deviceRx(rx, inj, w, frame, "loop"));
        r.rawRx.push(await rawRx(rx, inj, w, frame));
      }
      const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
      rows.push(row(`transmit, ${w.name}`, w, m.devTx, m.rawTx));
      rows.push(row(`receive, ${w.name}`, w, m.devRx, m.rawRx));
      rows.push(row(`receive, ${w.name}, woken by epoll`, w, m.loopRx, m.rawRx));
      if (w.len === 64) alloc = allocationCheck(tx, frame);
    }

    console.log(
      `\nvirtio-net device path (NetDevice + tap, mock driver) vs raw tap readv/writev, median of ${RUNS}\n`,
    );
    console.log("| workload | device path | raw tap | device/raw |");
    console.log("| --- | --- | --- | --- |");
    for (const l of rows) console.log(l);
    console.log(`\n${alloc}`);
    console.log(await wakeupLatency());
    let vhost = false;
    try {
      Deno.statSync("/dev/vhost-net");
      vhost = true;
    } catch {
      // absent
    }
    console.log(
      vhost
        ? "/dev/vhost-net exists here: a vhost-net data path would move the frames between the tap and guest memory in the host kernel, without a trip through the VMM per batch."
        : "No /dev/vhost-net on this host: the VMM's own device path (above) is the only data path.",
    );
  } finally {
    for (const b of opened) b.close();
    await loop.close();
    for (const t of [rxTap, injTap, txTap]) await t.remove().catch((e) => console.error(`${e}`));
  }
}

// ---- passes ---------------------------------------------------------------------------------

/** A mock driver for one device: transmit chains prebuilt once, receive buffers recycled. */
function driver() {
  const mapped = mappedGuestMemory(8 << 20);
  const mem = mapped.memory;
  // A guest has touched its buffers long before it posts them: fault the pages in now, so the
  // first pass does not time page faults.
  mem.slice(0, 8 << 20).fill(0);
  const rxq = new MockSplitQueue(mem, 0x10000, QSIZE, 3 << 20);
  const txq = new MockSplitQueue(mem, 0x40_0000, QSIZE, 3 << 20);
  return { mapped, mem, rxq, txq };
}

/** Transmit through the device: the driver republishes QSIZE prebuilt chains per round. */
function deviceTx(tap: TapBackend, w: Workload, frame: Uint8Array): number {
  const { mapped, mem, rxq, txq } = driver();
  const dev = new NetDevice("bench0", tap);
  const q = [rxq, txq].map((m) => new SplitQueue(mem, QSIZE, m.addresses, { eventIdx: true }));
  // One data buffer shared by every chain (the device only reads it); big frames as Linux
  // sends them: one indirect table of the header+linear part and 4 KiB pages.
  const data = txq.alloc(frame.length);
  mem.write(data, frame);
  const heads: number[] = [];
  for (let i = 0; i < QSIZE; i++) {
    if (!w.gso) {
      heads.push(txq.addChain([{ addr: data, len: frame.length }]));
      continue;
    }
    const bufs = [{ addr: data, len: NET_HDR_SIZE + 1514 }];
    for (let at = NET_HDR_SIZE + 1514; at < frame.length; at += 4096) {
      bufs.push({ addr: data + at, len: Math.min(4096, frame.length - at) });
    }
    heads.push(txq.addChain(bufs, { indirect: true }));
    if (heads.length === 64) break; // 64 chains in flight are plenty for 64 KiB frames
  }
  dev.activate({
    mem,
    queues: q,
    features: dev.features,
    notifyUsed: () => {},
    notifyConfig: () => {},
    needsReset: (r) => {
      throw new Error(r);
    },
  });
  const rounds = Math.ceil(w.tx / heads.length);
  const before = dev.counters.txFrames; // activation already sent the first round
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const h of heads) txq.publish(h);
    dev.queueNotify(1);
  }
  const ms = performance.now() - t0;
  const sent = dev.counters.txFrames - before;
  dev.reset();
  mapped[Symbol.dispose]();
  if (sent !== rounds * heads.length) {
    throw new Error(`device sent ${sent} of ${rounds * heads.length}`);
  }
  return (rounds * heads.length) / ms; // frames per ms
}

/** Raw writev of the same frame from one host buffer. */
function rawTx(tap: TapBackend, w: Workload, frame: Uint8Array): number {
  const iov = new IoVecs(2);
  iov.push(addressOf(frame), frame.length);
  const t0 = performance.now();
  for (let i = 0; i < w.tx; i++) {
    const n = tap.writev(iov);
    if (n !== frame.length) throw new Error(`raw writev returned ${n}`);
  }
  return w.tx / (performance.now() - t0);
}

/** Writes `count` frames into the injector tap; the bridge queues them on the rx tap. */
async function inject(inj: TapBackend, frame: Uint8Array, count: number): Promise<void> {
  const iov = new IoVecs(2);
  iov.push(addressOf(frame), frame.length);
  for (let i = 0; i < count; i++) {
    const n = inj.writev(iov);
    if (n !== frame.length) throw new Error(`injection writev returned ${n}`);
  }
  await new Promise((r) => setTimeout(r, 50)); // let the bridge finish forwarding
}

/** A tap as the device sees it, with the readiness callbacks in the benchmark's hands. */
class DirectTap implements NetBackend {
  handlers?: NetBackendHandlers;
  constructor(readonly tap: TapBackend) {}
  get name() {
    return this.tap.name;
  }
  attach(h: NetBackendHandlers) {
    this.handlers = h;
  }
  setInterest() {}
  readv(iov: IoVecs) {
    return this.tap.readv(iov);
  }
  writev(iov: IoVecs) {
    return this.tap.writev(iov);
  }
  setOffload(f: number) {
    this.tap.setOffload(f);
  }
  close() {}
}

/**
 * Receive through the device; the driver recycles buffers on interrupts. `loop`: woken by the
 * epoll event loop, as in a VM; `direct`: the benchmark calls the readable handler itself,
 * which leaves the event loop's wake-up cost out.
 */
async function deviceRx(
  tap: TapBackend,
  inj: TapBackend,
  w: Workload,
  frame: Uint8Array,
  mode: "loop" | "direct",
): Promise<number> {
  tap.setOffload(0);
  drain(tap);
  const { mapped, mem, rxq, txq } = driver();
  const direct = mode === "direct" ? new DirectTap(tap) : undefined;
  const dev = new NetDevice("bench1", direct ?? tap);
  const q = [rxq, txq].map((m) => new SplitQueue(mem, QSIZE, m.addresses, { eventIdx: true }));
  // The buffers are posted only once the frames wait in the tap: until then the device has
  // none, so it does not read the tap while they are injected.
  for (let i = 0; i < QSIZE; i++) {
    const addr = rxq.alloc(RX_BUF);
    rxq.writeDescriptor(i, { addr, len: RX_BUF, flags: VIRTQ_DESC_F.WRITE, next: 0 });
  }
  const used = rxq.addresses.used;
  let seen = 0;
  let last = 0;
  let wake = () => {};
  const refill = () => {
    const idx = mem.readU16(used + 2);
    for (; seen !== idx; seen = (seen + 1) & 0xffff) {
      rxq.publish(mem.readU32(used + 4 + 8 * (seen % QSIZE)));
    }
    rxq.setUsedEvent(idx); // interrupt me at the next used buffer (virtqueue_enable_cb)
    last = performance.now();
    dev.queueNotify(0); // the kick that ends a stall; ignored otherwise
    wake();
  };
  dev.activate({
    mem,
    queues: q,
    features: dev.features,
    notifyUsed: refill,
    notifyConfig: () => {},
    needsReset: (r) => {
      throw new Error(r);
    },
  });
  await inject(inj, frame, w.rx);
  const t0 = performance.now();
  last = t0;
  for (let i = 0; i < QSIZE; i++) rxq.publish(i);
  dev.queueNotify(0);
  if (direct !== undefined) {
    for (let before = -1; dev.counters.rxFrames !== before;) {
      before = dev.counters.rxFrames;
      direct.handlers!.readable();
    }
  } else {
    while (dev.counters.rxFrames < w.rx) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
      if (performance.now() - last > 500) break; // frames the bridge dropped never come
    }
  }
  const got = dev.counters.rxFrames;
  const ms = last - t0;

  dev.reset();
  mapped[Symbol.dispose]();
  if (got < w.rx * 0.9) throw new Error(`device received ${got} of ${w.rx} frames`);
  return got / ms;
}

/** Raw readv of queued frames into one host buffer. */
async function rawRx(
  tap: TapBackend,
  inj: TapBackend,
  w: Workload,
  frame: Uint8Array,
): Promise<number> {
  tap.setOffload(TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6); // what the device sets for its driver
  drain(tap);
  await inject(inj, frame, w.rx);
  const buf = fixedBytes(NET_HDR_SIZE + 65600);
  const iov = new IoVecs(2);
  iov.push(addressOf(buf), buf.length);
  let got = 0;
  const t0 = performance.now();
  while (tap.readv(iov) > 0) got++;
  const ms = performance.now() - t0;
  tap.setOffload(0);
  if (got < w.rx * 0.9) throw new Error(`raw read ${got} of ${w.rx} frames`);
  return got / ms;
}

function drain(tap: TapBackend): void {
  const buf = fixedBytes(NET_HDR_SIZE + 65600);
  const iov = new IoVecs(2);
  iov.push(addressOf(buf), buf.length);
  while (tap.readv(iov) > 0) {
    // stale frames from an earlier pass
  }
}

/** Heap growth per frame on the warm transmit path, through the real tap. */
function allocationCheck(tap: TapBackend, frame: Uint8Array): string {
  const { mapped, mem, rxq, txq } = driver();
  const dev = new NetDevice("bench2", tap);
  const q = [rxq, txq].map((m) => new SplitQueue(mem, QSIZE, m.addresses, { eventIdx: true }));
  const data = txq.alloc(frame.length);
  mem.write(data, frame);
  const heads = Array.from(
    { length: QSIZE },
    () => txq.addChain([{ addr: data, len: frame.length }]),
  );
  dev.activate({
    mem,
    queues: q,
    features: dev.features,
    notifyUsed: () => {},
    notifyConfig: () => {},
    needsReset: (r) => {
      throw new Error(r);
    },
  });
  const round = () => {
    for (const h of heads) txq.publish(h);
    dev.queueNotify(1);
  };
  for (let i = 0; i < 400; i++) round();
  const before = Deno.memoryUsage().heapUsed;
  let prev = before;
  let shrinks = 0;
  for (let i = 0; i < 100; i++) {
    for (let j = 0; j < 8; j++) round();
    const now = Deno.memoryUsage().heapUsed;
    if (now < prev) shrinks++;
    prev = now;
  }
  const frames = 100 * 8 * QSIZE;
  dev.reset();
  mapped[Symbol.dispose]();
  return `Heap growth on the warm transmit path through the tap: ${
    ((prev - before) / frames).toFixed(3)
  } bytes/frame over ${frames} frames, ${shrinks} collections (the 100 heap samples themselves take ~25 KB).`;
}

/** How long the event loop takes from an eventfd becoming readable to its handler running. */
async function wakeupLatency(): Promise<string> {
  const wl = new EventLoop((e) => console.error(e));
  const efd = new EventFd();
  let fired = () => {};
  wl.add(efd.fd, () => {
    efd.drain();
    fired();
  });
  wl.start();
  const us: number[] = [];
  for (let i = 0; i < 300; i++) {
    const done = new Promise<void>((r) => (fired = r));
    const t0 = performance.now();
    efd.signal();
    await done;
    us.push((performance.now() - t0) * 1000);
  }
  await wl.close();
  efd.close();
  return `Event-loop wake-up (eventfd readable -> handler, epoll_wait on the blocking pool): median ${
    median(us).toFixed(0)
  } us; the "woken by epoll" rows pay one per ${256} frames.`;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
}

function row(name: string, w: Workload, dev: number, raw: number): string {
  const fmt = (fpms: number) => {
    const mpps = fpms / 1000;
    const gbit = (fpms * 1000 * w.len * 8) / 1e9;
    return w.len <= 64
      ? `${mpps.toFixed(3)} Mpps (${gbit.toFixed(2)} Gbit/s)`
      : `${gbit.toFixed(2)} Gbit/s (${mpps.toFixed(3)} Mpps)`;
  };
  return `| ${name} | ${fmt(dev)} | ${fmt(raw)} | ${(dev / raw).toFixed(2)} |`;
}

await main();
