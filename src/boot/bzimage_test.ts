import assert from "node:assert/strict";
import { GuestMemory, GuestMemoryError } from "../memory/guest_memory.ts";
import { makeBzImage } from "./boot_test_support.ts";
import { kernelRunAddress, loadBzImage, parseBzImage } from "./bzimage.ts";

const MiB = 2 ** 20;
const payload = new Uint8Array(8192).map((_, i) => i & 0xff);

Deno.test("bzImage: a good header is parsed field by field", () => {
  const h = parseBzImage(makeBzImage({
    payload,
    version: 0x020f,
    initSize: 0x123_4000,
    kernelAlignment: 0x20_0000,
    prefAddress: 0x100_0000n,
    cmdlineSize: 2047,
    initrdAddrMax: 0x7fff_ffff,
  }));
  assert.equal(h.version, 0x020f);
  assert.equal(h.setupSects, 4);
  assert.equal(h.setupBytes, 5 * 512);
  assert.equal(h.syssize, 8192 / 16);
  assert.equal(h.kernelAlignment, 0x20_0000);
  assert.equal(h.relocatable, true);
  assert.equal(h.prefAddress, 0x100_0000);
  assert.equal(h.initSize, 0x123_4000);
  assert.equal(h.initrdAddrMax, 0x7fff_ffff);
  assert.equal(h.cmdlineSize, 2047);
  assert.equal(h.xloadflags & 1, 1);
  assert.equal(h.header.length, 0x26c - 0x1f1); // 0x202 + jump displacement
  assert.equal(h.header[0], 4); // setup_sects is the header's first byte (0x1f1)
  assert.equal(h.header[0x202 - 0x1f1], 0x48); // "H" of HdrS
});

Deno.test("bzImage: setup_sects 0 means 4", () => {
  const h = parseBzImage(makeBzImage({ payload, setupSects: 0 }));
  assert.equal(h.setupSects, 4);
  assert.equal(h.setupBytes, 2560);
});

Deno.test("bzImage: protected-mode part at 1 MiB, 64-bit entry at +0x200", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const bz = loadBzImage(mem, makeBzImage({ payload, initSize: 8 * MiB }));
  assert.equal(bz.loadAddr, 0x10_0000);
  assert.equal(bz.entry, 0x10_0200);
  assert.deepEqual(mem.slice(0x10_0000, payload.length), payload);
  // Relocatable, 2 MiB aligned, pref_address 16 MiB: the kernel runs at 16 MiB.
  assert.equal(bz.runAddr, 0x100_0000);
  assert.equal(bz.end, 0x100_0000 + 8 * MiB);
});

Deno.test("bzImage: where the decompressed kernel runs", () => {
  const h = (o: { relocatable: boolean; align: number; pref: bigint }) =>
    parseBzImage(makeBzImage({
      payload,
      relocatable: o.relocatable,
      kernelAlignment: o.align,
      prefAddress: o.pref,
    }));
  assert.equal(kernelRunAddress(h({ relocatable: true, align: 2 * MiB, pref: 0n }), MiB), 2 * MiB);
  assert.equal(
    kernelRunAddress(h({ relocatable: true, align: 2 * MiB, pref: 0x100_0000n }), MiB),
    16 * MiB,
  );
  assert.equal(
    kernelRunAddress(h({ relocatable: false, align: 2 * MiB, pref: 0x40_0000n }), MiB),
    4 * MiB,
  );
});

Deno.test("bzImage: wrong magic, old protocol, no 64-bit entry, zImage", () => {
  assert.throws(
    () => parseBzImage(makeBzImage({ payload, magic: 0x1234 })),
    { message: "Not a bzImage: no HdrS signature at 0x202" },
  );
  assert.throws(
    () => parseBzImage(new Uint8Array(0x100)),
    { message: "Not a bzImage: no HdrS signature at 0x202" },
  );
  assert.throws(
    () => parseBzImage(makeBzImage({ payload, version: 0x020a })),
    { message: "Kernel boot protocol 2.10 is too old: denovmm needs 2.12 or newer" },
  );
  assert.throws(
    () => parseBzImage(makeBzImage({ payload, xloadflags: 0x2 })),
    /no 64-bit entry point \(XLF_KERNEL_64/,
  );
  assert.throws(() => parseBzImage(makeBzImage({ payload, loadflags: 0 })), /zImage/);
});

Deno.test("bzImage: damaged headers and truncated files are refused", () => {
  assert.throws(() => parseBzImage(makeBzImage({ payload, bootFlag: 0 })), /0xAA55/);
  assert.throws(() => parseBzImage(makeBzImage({ payload, headerEnd: 0x250 })), /ends at 0x250/);
  assert.throws(
    () => parseBzImage(makeBzImage({ payload, syssize: 8192 / 16 + 2 })),
    /truncated: 8192 bytes follow the 4 setup sectors, but the header announces 8224/,
  );
  const whole = makeBzImage({ payload });
  assert.throws(() => parseBzImage(whole.subarray(0, 0x240)), /truncated inside its setup header/);
  assert.throws(() => parseBzImage(whole.subarray(0, 2560 + 100)), /truncated/);
  assert.throws(
    () => parseBzImage(makeBzImage({ payload, kernelAlignment: 3 * MiB })),
    /not a power of 2/,
  );
});

Deno.test("bzImage: a kernel that cannot decompress inside RAM is a GuestMemoryError", () => {
  const mem = GuestMemory.fromBuffers(16 * MiB);
  const image = makeBzImage({ payload, initSize: 8 * MiB }); // runs at 16 MiB..24 MiB
  assert.throws(() => loadBzImage(mem, image), (e: unknown) => {
    assert.ok(e instanceof GuestMemoryError);
    assert.match(e.message, /bzImage kernel .* not inside guest RAM \(0x0-0x1000000\)/);
    assert.match(e.message, /give the VM more memory/);
    return true;
  });
  assert.equal(mem.readU8(0x10_0001), 0, "nothing is written when the kernel does not fit");
});

Deno.test("bzImage: every truncation and corrupt header byte gives a plain Error", () => {
  const good = makeBzImage({ payload: new Uint8Array(1024) });
  const plain = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(
        e instanceof Error && !(e instanceof RangeError) && !(e instanceof TypeError),
        `${e}`,
      );
    }
  };
  for (let len = 0; len < good.length; len++) plain(() => parseBzImage(good.subarray(0, len)));
  for (let i = 0x1f1; i < 0x26c; i++) {
    const bad = good.slice();
    bad[i] ^= 0xff;
    plain(() => parseBzImage(bad));
  }
});
