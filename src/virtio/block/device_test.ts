import assert from "node:assert/strict";
import { activateWithMocks } from "../testing/activate.ts";
import { BLK_CONFIG, BlockDevice, VIRTIO_BLK_F } from "./device.ts";
import { DiskImageError, FileBackend } from "./file_backend.ts";
import { VIRTIO_BLK_S, VIRTIO_BLK_T } from "./request.ts";

const DISK = 4 << 20;

async function tempDisk(fill?: (b: Uint8Array) => void): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "denovmm-blk-", suffix: ".img" });
  const b = new Uint8Array(DISK);
  fill?.(b);
  await Deno.writeFile(path, b);
  return path;
}

function header(type: number, sector = 0n): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, sector, true);
  return h;
}

async function settle(dev: BlockDevice) {
  await dev.quiesce();
  await new Promise((r) => setTimeout(r, 0));
}

function setup(path: string, readOnly = false) {
  const backend = FileBackend.open(path, { readOnly, id: "test-disk" });
  const dev = new BlockDevice("blk0", backend);
  const drv = activateWithMocks(dev);
  return { backend, dev, drv, q: drv.queues[0], mem: drv.mem };
}

Deno.test("blk config: capacity, seg_max, size_max, block size; RO feature for read-only", async () => {
  const path = await tempDisk();
  const { backend, dev } = setup(path);
  const cfg = new Uint8Array(BLK_CONFIG.SIZE);
  dev.readConfig(0, cfg);
  const v = new DataView(cfg.buffer);
  assert.equal(v.getBigUint64(BLK_CONFIG.CAPACITY, true), BigInt(DISK / 512));
  assert.equal(v.getUint32(BLK_CONFIG.SEG_MAX, true), 254);
  assert.equal(v.getUint32(BLK_CONFIG.BLK_SIZE, true), 512);
  assert.equal(dev.features & (1n << VIRTIO_BLK_F.RO), 0n);
  backend.close();
  const ro = new BlockDevice("blk1", FileBackend.open(path, { readOnly: true }));
  assert.notEqual(ro.features & (1n << VIRTIO_BLK_F.RO), 0n);
  assert.equal(ro.features & (1n << VIRTIO_BLK_F.DISCARD), 0n);
  ro.backend.close();
  await Deno.remove(path);
});

Deno.test("blk: IN reads sectors into guest buffers split across descriptors", async () => {
  const path = await tempDisk((b) => b.forEach((_, i) => (b[i] = (i * 7) & 0xff)));
  const { backend, dev, q, mem, drv } = setup(path);
  const d1 = q.alloc(1000), d2 = q.alloc(24), st = q.alloc(1);
  const head = q.addChain([{ data: header(VIRTIO_BLK_T.IN, 2n) }, {
    addr: d1,
    len: 1000,
    write: true,
  }, {
    addr: d2,
    len: 24,
    write: true,
  }, { addr: st, len: 1, write: true }]);
  dev.queueNotify(0);
  await settle(dev);
  assert.deepEqual(q.used(), [{ id: head, len: 1025 }]);
  assert.equal(mem.readU8(st), VIRTIO_BLK_S.OK);
  const got = new Uint8Array(1024);
  got.set(mem.slice(d1, 1000));
  got.set(mem.slice(d2, 24), 1000);
  const want = new Uint8Array(1024).map((_, i) => ((1024 + i) * 7) & 0xff);
  assert.deepEqual(got, want);
  assert.equal(drv.interrupts.used, 1);
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: OUT then FLUSH land in the file; several requests in flight", async () => {
  const path = await tempDisk();
  const { backend, dev, q, mem } = setup(path);
  const payloads = [0, 1, 2, 3].map((i) => new Uint8Array(4096).fill(0x41 + i));
  const sts = payloads.map((p, i) => {
    const st = q.alloc(1);
    q.addChain([{ data: header(VIRTIO_BLK_T.OUT, BigInt(i * 8)) }, { data: p }, {
      addr: st,
      len: 1,
      write: true,
    }]);
    return st;
  });
  const fst = q.alloc(1);
  dev.queueNotify(0);
  await settle(dev);
  q.addChain([{ data: header(VIRTIO_BLK_T.FLUSH) }, { addr: fst, len: 1, write: true }]);
  dev.queueNotify(0);
  await settle(dev);
  assert.equal(q.used().length, 5);
  assert.ok(sts.every((s) => mem.readU8(s) === VIRTIO_BLK_S.OK));
  assert.equal(mem.readU8(fst), VIRTIO_BLK_S.OK);
  const file = await Deno.readFile(path);
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(file.subarray(i * 4096, (i + 1) * 4096), payloads[i]);
  }
  assert.equal(dev.counters.writes, 4);
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: GET_ID, unsupported type, out-of-range sector, bad chain", async () => {
  const path = await tempDisk();
  const { backend, dev, q, mem } = setup(path);
  const id = q.alloc(20), s1 = q.alloc(1), s2 = q.alloc(1), s3 = q.alloc(1);
  q.addChain([{ data: header(VIRTIO_BLK_T.GET_ID) }, { addr: id, len: 20, write: true }, {
    addr: s1,
    len: 1,
    write: true,
  }]);
  q.addChain([{ data: header(99) }, { addr: s2, len: 1, write: true }]);
  q.addChain([{ data: header(VIRTIO_BLK_T.IN, BigInt(DISK / 512)) }, { len: 512, write: true }, {
    addr: s3,
    len: 1,
    write: true,
  }]);
  q.addChain([{ data: header(VIRTIO_BLK_T.IN) }]); // no status byte at all
  dev.queueNotify(0);
  await settle(dev);
  assert.equal(q.used().length, 4);
  assert.equal(new TextDecoder().decode(mem.slice(id, 9)), "test-disk");
  assert.equal(mem.readU8(s1), VIRTIO_BLK_S.OK);
  assert.equal(mem.readU8(s2), VIRTIO_BLK_S.UNSUPP);
  assert.equal(mem.readU8(s3), VIRTIO_BLK_S.IOERR);
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: read-only disk refuses writes with IOERR and leaves the file alone", async () => {
  const path = await tempDisk();
  const { backend, dev, q, mem } = setup(path, true);
  const st = q.alloc(1);
  q.addChain([{ data: header(VIRTIO_BLK_T.OUT) }, { data: new Uint8Array(512).fill(9) }, {
    addr: st,
    len: 1,
    write: true,
  }]);
  dev.queueNotify(0);
  await settle(dev);
  assert.equal(mem.readU8(st), VIRTIO_BLK_S.IOERR);
  assert.equal((await Deno.readFile(path))[0], 0);
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: DISCARD and WRITE_ZEROES zero the range", async () => {
  const path = await tempDisk((b) => b.fill(0xee));
  const { backend, dev, q, mem } = setup(path);
  const seg = (sector: bigint, n: number, flags = 0) => {
    const s = new Uint8Array(16);
    const v = new DataView(s.buffer);
    v.setBigUint64(0, sector, true);
    v.setUint32(8, n, true);
    v.setUint32(12, flags, true);
    return s;
  };
  const s1 = q.alloc(1), s2 = q.alloc(1);
  q.addChain([{ data: header(VIRTIO_BLK_T.DISCARD) }, { data: seg(0n, 8) }, {
    addr: s1,
    len: 1,
    write: true,
  }]);
  q.addChain([{ data: header(VIRTIO_BLK_T.WRITE_ZEROES) }, { data: seg(16n, 8) }, {
    addr: s2,
    len: 1,
    write: true,
  }]);
  dev.queueNotify(0);
  await settle(dev);
  assert.equal(mem.readU8(s1), VIRTIO_BLK_S.OK);
  assert.equal(mem.readU8(s2), VIRTIO_BLK_S.OK);
  const f = await Deno.readFile(path);
  assert.ok(f.subarray(0, 4096).every((x) => x === 0));
  assert.ok(f.subarray(4096, 8192).every((x) => x === 0xee));
  assert.ok(f.subarray(8192, 12288).every((x) => x === 0));
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: a malformed ring puts the device in needs-reset, it does not throw", async () => {
  const path = await tempDisk();
  const { backend, dev, q, drv } = setup(path);
  q.setAvailIdx(1000);
  dev.queueNotify(0);
  assert.equal(drv.resetReasons.length, 1);
  backend.close();
  await Deno.remove(path);
});

Deno.test("blk: a new image while the guest runs: in-flight reads finish on the old one, later ones use the new", async () => {
  const oldPath = await tempDisk((b) => b.fill(0xaa));
  const newPath = await Deno.makeTempFile({ prefix: "denovmm-blk-", suffix: ".img" });
  await Deno.writeFile(newPath, new Uint8Array(DISK * 2).fill(0xbb));
  const { dev, q, mem, drv } = setup(oldPath);
  const read = (sector: bigint) => {
    const buf = q.alloc(512), st = q.alloc(1);
    q.addChain([{ data: header(VIRTIO_BLK_T.IN, sector) }, { addr: buf, len: 512, write: true }, {
      addr: st,
      len: 1,
      write: true,
    }]);
    dev.queueNotify(0);
    return { buf, st };
  };
  const before = read(0n); // in flight while the swap is asked for
  const swapped = dev.replaceBackend(
    FileBackend.open(newPath, { readOnly: false, id: "test-disk" }),
  );
  const old = await swapped;
  await settle(dev);
  assert.equal(mem.readU8(before.st), VIRTIO_BLK_S.OK);
  assert.ok(mem.slice(before.buf, 512).every((x) => x === 0xaa), "the old image answered");
  const after = read(BigInt(DISK / 512)); // past the old end: only the new image has it
  await settle(dev);
  assert.equal(mem.readU8(after.st), VIRTIO_BLK_S.OK);
  assert.ok(mem.slice(after.buf, 512).every((x) => x === 0xbb), "the new image answered");
  const cfg = new Uint8Array(BLK_CONFIG.SIZE);
  dev.readConfig(0, cfg);
  assert.equal(
    new DataView(cfg.buffer).getBigUint64(BLK_CONFIG.CAPACITY, true),
    BigInt(DISK * 2 / 512),
  );
  assert.equal(drv.interrupts.config, 1, "the driver is told to read the capacity again");
  old.close();
  await assert.rejects(
    dev.replaceBackend(FileBackend.open(oldPath, { readOnly: true })),
    /must be writable like the one the guest has/,
  );
  dev.backend.close();
  await Deno.remove(oldPath);
  await Deno.remove(newPath);
});

Deno.test("file backend: a second read-write open is refused by the lock; missing file is plain", async () => {
  const path = await tempDisk();
  const a = FileBackend.open(path, { readOnly: false });
  assert.throws(
    () => FileBackend.open(path, { readOnly: false }),
    (e) => e instanceof DiskImageError && /in use by another VM/.test(e.message),
  );
  a.close();
  FileBackend.open(path, { readOnly: false }).close();
  assert.throws(
    () => FileBackend.open("/nonexistent/x.img", { readOnly: false }),
    /Cannot open disk image \/nonexistent\/x.img: no such file/,
  );
  await Deno.remove(path);
});
