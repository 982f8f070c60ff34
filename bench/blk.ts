/**
 * virtio-blk device-path benchmark: the real BlockDevice and FileBackend driven by the
 * MockSplitQueue driver (no guest), beside raw pread/pwrite on the same file in the same run.
 *
 * Workloads: 128 KiB sequential read and write, 4 KiB random read; queue depth 32 for the
 * device path and for the asynchronous raw baseline, plus a synchronous raw pread/pwrite loop.
 * Each figure is the median of `--runs` (default 5) passes over a 256 MiB file in the page cache.
 *
 * Usage: `deno run -A bench/blk.ts [--runs N] [--dir /tmp]`
 *
 * @module
 */

import { GuestMemory } from "../src/memory/guest_memory.ts";
import { BlockDevice } from "../src/virtio/block/device.ts";
import { FileBackend } from "../src/virtio/block/file_backend.ts";
import { SECTOR_SIZE, VIRTIO_BLK_T } from "../src/virtio/block/request.ts";
import { SplitQueue } from "../src/virtio/queue/split_queue.ts";
import { MockSplitQueue } from "../src/virtio/testing/mock_split_queue.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const RUNS = Number(args.runs ?? 5);
const FILE_BYTES = 256 << 20;
const DEPTH = 32;
const dir = args.dir ?? Deno.env.get("TMPDIR") ?? "/tmp";
const path = await Deno.makeTempFile({ dir, prefix: "denovmm-blk-bench-", suffix: ".img" });
await Deno.writeFile(path, new Uint8Array(FILE_BYTES).map((_, i) => i & 0xff));

interface Workload {
  name: string;
  bs: number;
  ops: number;
  write: boolean;
  random: boolean;
}
const workloads: Workload[] = [
  { name: "seq read 128 KiB", bs: 128 << 10, ops: 2048, write: false, random: false },
  { name: "seq write 128 KiB", bs: 128 << 10, ops: 2048, write: true, random: false },
  { name: "rand read 4 KiB", bs: 4096, ops: 32768, write: false, random: true },
];

function offsets(w: Workload): number[] {
  let x = 12345;
  return Array.from({ length: w.ops }, (_, i) => {
    if (!w.random) return (i * w.bs) % FILE_BYTES;
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return (x % (FILE_BYTES / w.bs)) * w.bs;
  });
}

/** Device path: chains of header + data + status through the real device, DEPTH in flight. */
async function devicePath(w: Workload): Promise<number> {
  const backend = FileBackend.open(path, { readOnly: false });
  const dev = new BlockDevice("blk0", backend);
  const mem = GuestMemory.fromBuffers(64 << 20);
  const drv = new MockSplitQueue(mem, 0x10000, 256, 48 << 20);
  const hdrs = Array.from({ length: DEPTH }, () => drv.alloc(16));
  const datas = Array.from({ length: DEPTH }, () => drv.alloc(w.bs));
  const stats = Array.from({ length: DEPTH }, () => drv.alloc(1));
  dev.activate({
    mem,
    queues: [new SplitQueue(mem, 256, drv.addresses, { eventIdx: true })],
    features: dev.features,
    notifyUsed: () => {},
    notifyConfig: () => {},
    needsReset: (r) => {
      throw new Error(r);
    },
  });
  const offs = offsets(w);
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i += DEPTH) {
    for (let j = 0; j < DEPTH && i + j < offs.length; j++) {
      mem.writeU32(hdrs[j], w.write ? VIRTIO_BLK_T.OUT : VIRTIO_BLK_T.IN);
      mem.writeU64(hdrs[j] + 8, BigInt(offs[i + j] / SECTOR_SIZE));
      drv.addChain([
        { addr: hdrs[j], len: 16 },
        { addr: datas[j], len: w.bs, write: !w.write },
        { addr: stats[j], len: 1, write: true },
      ]);
    }
    dev.queueNotify(0);
    await dev.quiesce();
    drv.used();
  }
  const ms = performance.now() - t0;
  backend.close();
  return ms;
}

/** Raw asynchronous pread/pwrite, DEPTH in flight, into one buffer per slot. */
async function rawAsync(w: Workload): Promise<number> {
  const f = FileBackend.open(path, { readOnly: false });
  const bufs = Array.from({ length: DEPTH }, () => new Uint8Array(w.bs));
  const offs = offsets(w);
  const t0 = performance.now();
  for (let i = 0; i < offs.length; i += DEPTH) {
    const batch: Promise<number>[] = [];
    for (let j = 0; j < DEPTH && i + j < offs.length; j++) {
      batch.push(w.write ? f.write(offs[i + j], bufs[j]) : f.read(offs[i + j], bufs[j]));
    }
    await Promise.all(batch);
  }
  const ms = performance.now() - t0;
  f.close();
  return ms;
}

/** Raw synchronous pread/pwrite loop (the simplest possible baseline). */
function rawSync(w: Workload): number {
  const file = Deno.openSync(path, { read: true, write: true });
  const buf = new Uint8Array(w.bs);
  const offs = offsets(w);
  const t0 = performance.now();
  for (const off of offs) {
    file.seekSync(off, Deno.SeekMode.Start);
    if (w.write) file.writeSync(buf);
    else file.readSync(buf);
  }
  const ms = performance.now() - t0;
  file.close();
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const rows: string[] = [];
for (const w of workloads) {
  const dev: number[] = [];
  const ra: number[] = [];
  const rs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    dev.push(await devicePath(w));
    ra.push(await rawAsync(w));
    rs.push(rawSync(w));
  }
  const mib = (ms: number) => ((w.ops * w.bs) / 2 ** 20 / (ms / 1000)).toFixed(0);
  const iops = (ms: number) => (w.ops / (ms / 1000) / 1000).toFixed(1);
  const [d, a, s] = [median(dev), median(ra), median(rs)];
  rows.push(
    `| ${w.name} | ${mib(d)} MiB/s, ${iops(d)}k IOPS | ${mib(a)} MiB/s, ${iops(a)}k IOPS | ${
      mib(s)
    } MiB/s, ${iops(s)}k IOPS | ${(a / d).toFixed(2)} | ${(s / d).toFixed(2)} |`,
  );
}
await Deno.remove(path);
console.log(
  `\nvirtio-blk device path vs raw file I/O, median of ${RUNS}, queue depth ${DEPTH}, ${dir}\n`,
);
console.log(
  "| workload | device path | raw async (qd 32) | raw sync | device/raw async | device/raw sync |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
