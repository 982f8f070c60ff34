/**
 * Fuzz: random descriptor chains, ring indexes and register writes against the real transport
 * and devices. Whatever the guest writes, no exception may escape a device, nothing may hang,
 * and every access goes through GuestMemory (which throws instead of leaving guest RAM).
 */

import assert from "node:assert/strict";
import type { GuestMemory } from "../memory/guest_memory.ts";
import { BlockDevice } from "./block/device.ts";
import { FileBackend } from "./block/file_backend.ts";
import { ConsoleDevice } from "./console/device.ts";
import type { VirtioDevice } from "./device.ts";
import { MmioTransport, REG, STATUS } from "./mmio_transport.ts";
import { VIRTQ_DESC_F } from "./queue/split_queue.ts";
import { RngDevice } from "./rng/device.ts";
import { NetDevice } from "./net/device.ts";
import { WOULD_BLOCK } from "./net/backend.ts";
import { FakeNetBackend } from "./testing/fake_net_backend.ts";
import { mappedGuestMemory } from "./testing/mapped_memory.ts";

const CHAINS = 100_000;
const MEM = 1 << 20;
const QUEUE_BASE = 0x1000;

/** xorshift32: reproducible from the seed printed on failure. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function driver(t: MmioTransport) {
  const d = new Uint8Array(4);
  const dv = new DataView(d.buffer);
  return (off: number, v: number) => {
    dv.setUint32(0, v >>> 0, true);
    t.write(off, d);
  };
}

// Brings the device up with every queue laid out at QUEUE_BASE + 0x4000 * q (size 16), its
// ring indexes zeroed as a driver's fresh rings are.
function bringUp(
  t: MmioTransport,
  dev: VirtioDevice,
  w: (o: number, v: number) => void,
  mem: GuestMemory,
) {
  w(REG.STATUS, 0);
  w(REG.STATUS, STATUS.ACKNOWLEDGE);
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  w(REG.DRIVER_FEATURES_SEL, 0);
  w(REG.DRIVER_FEATURES, Number(dev.features & 0xffff_ffffn));
  w(REG.DRIVER_FEATURES_SEL, 1);
  w(REG.DRIVER_FEATURES, Number(dev.features >> 32n));
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
  dev.queueMaxSizes.forEach((_, q) => {
    const base = QUEUE_BASE + 0x4000 * q;
    mem.writeU32(base + 0x100, 0);
    mem.writeU32(base + 0x200, 0);
    w(REG.QUEUE_SEL, q);
    w(REG.QUEUE_NUM, 16);
    w(REG.QUEUE_DESC_LOW, base);
    w(REG.QUEUE_DRIVER_LOW, base + 0x100);
    w(REG.QUEUE_DEVICE_LOW, base + 0x200);
    w(REG.QUEUE_READY, 1);
  });
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.ok(t.active || (t.status & STATUS.DEVICE_NEEDS_RESET) !== 0);
}

Deno.test("fuzz: 100 000 random chains and register writes never escape a device", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
  const next = rng(seed);
  const img = await Deno.makeTempFile({ suffix: ".img" });
  await Deno.writeFile(img, new Uint8Array(1 << 20));
  const backend = FileBackend.open(img, { readOnly: false });
  // mmap-backed, as a VM's RAM is: the net device reads and writes it with readv/writev.
  using mapped = mappedGuestMemory(MEM);
  const mem = mapped.memory;
  const tap = new FakeNetBackend("fuzz0");
  tap.keepSent = false;
  const devices: VirtioDevice[] = [
    new BlockDevice("blk0", backend),
    new RngDevice("rng0"),
    new ConsoleDevice("con0", [{ output: () => {} }, { name: "p1", output: () => {} }]),
    new NetDevice("net0", tap),
  ];
  const transports = devices.map((d) => new MmioTransport(d, mem, { trigger: () => {} }));
  const writers = transports.map(driver);
  transports.forEach((t, i) => bringUp(t, devices[i], writers[i], mem));
  const t0 = performance.now();
  try {
    for (let i = 0; i < CHAINS; i++) {
      const k = next() % devices.length;
      const dev = devices[k];
      const t = transports[k];
      const w = writers[k];
      const roll = next() % 100;
      if (dev === devices[3] && roll < 15) {
        // The tap side: frames of any size (runts and oversized ones included), readiness
        // events, a full or failing tap.
        if (tap.inbox.length < 8) {
          const f = new Uint8Array(next() % 8 === 0 ? next() % 70000 : next() % 2000);
          for (let j = 0; j < Math.min(f.length, 32); j++) f[j] = next() & 0xff;
          tap.inject(f);
        }
        tap.writeResult = [undefined, undefined, WOULD_BLOCK, -5][next() % 4];
        tap.fireReadable();
        tap.fireWritable();
        continue;
      }
      if (dev === devices[3] && roll < 50 && t.active) {
        // A well-formed chain with random contents, so the data paths run, not only the checks.
        const q = next() % 2;
        const base = QUEUE_BASE + 0x4000 * q;
        const n = 1 + (next() % 3);
        const first = next() % 16;
        for (let j = 0; j < n; j++) {
          const idx = (first + j) % 16;
          const at = base + 16 * idx;
          const addr = 0x8_0000 + (next() % 0x7_0000);
          const len = next() % 3000;
          mem.writeU64(at, BigInt(addr));
          mem.writeU32(at + 8, len);
          mem.writeU16(
            at + 12,
            (q === 0 ? VIRTQ_DESC_F.WRITE : 0) | (j < n - 1 ? VIRTQ_DESC_F.NEXT : 0),
          );
          mem.writeU16(at + 14, (idx + 1) % 16);
          if (q === 1 && j === 0 && len >= 2 && next() % 2 === 0) mem.writeU16(addr, 0); // plain header
        }
        const avail = base + 0x100;
        const idx = mem.readU16(avail + 2);
        mem.writeU16(avail + 4 + 2 * (idx % 16), first);
        mem.writeU16(avail + 2, (idx + 1) & 0xffff);
        t.notifyQueue(q);
        continue;
      }
      if (roll < 3) {
        w(next() % 0x110 & ~3, next()); // a random register write
      } else if (roll < 5 || !t.active) {
        bringUp(t, dev, w, mem);
      } else {
        // A random chain of up to 20 descriptors on a random queue, then a kick.
        const q = next() % dev.queueMaxSizes.length;
        const base = QUEUE_BASE + 0x4000 * q;
        const n = 1 + (next() % 20);
        for (let j = 0; j < n && j < 16; j++) {
          const at = base + 16 * (next() % 16);
          const wild = next() % 8 === 0;
          const addr = wild
            ? BigInt(next()) * BigInt(next())
            : BigInt(0x8_0000 + (next() % 0x7_0000));
          mem.writeU64(at, addr);
          mem.writeU32(at + 8, wild ? next() : next() % 0x3000);
          mem.writeU16(
            at + 12,
            next() % 8 === 0
              ? VIRTQ_DESC_F.INDIRECT
              : next() & (VIRTQ_DESC_F.NEXT | VIRTQ_DESC_F.WRITE),
          );
          mem.writeU16(at + 14, next() % 10 === 0 ? next() & 0xffff : next() % 16);
        }
        const avail = base + 0x100;
        const idx = mem.readU16(avail + 2);
        mem.writeU16(avail + 4 + 2 * (idx % 16), next() % 10 === 0 ? next() & 0xffff : next() % 16);
        mem.writeU16(avail + 2, next() % 50 === 0 ? next() & 0xffff : (idx + 1) & 0xffff);
        t.notifyQueue(q);
      }
      if (i % 1000 === 0) await Promise.all(devices.map((d) => d.quiesce()));
    }
    await Promise.all(devices.map((d) => d.quiesce()));
  } catch (e) {
    throw new Error(`fuzz failed with FUZZ_SEED=${seed}: ${(e as Error).stack}`);
  } finally {
    backend.close();
    await Deno.remove(img);
  }
  console.log(
    `${CHAINS} iterations in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s (seed ${seed}); net: ${JSON.stringify((devices[3] as NetDevice).counters)}`,
  );
});
