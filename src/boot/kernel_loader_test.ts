import assert from "node:assert/strict";
import { GuestMemory, GuestMemoryError } from "../memory/guest_memory.ts";
import { makeBzImage, makeElf } from "./boot_test_support.ts";
import { ELF_INITRD_ADDR_MAX, loadInitrd, loadKernel, MAX_CMDLINE_LEN } from "./kernel_loader.ts";

const MiB = 2 ** 20;
const elfImage = () =>
  makeElf({
    entry: 0x100_0000n,
    segments: [{ paddr: 0x100_0000, data: new Uint8Array(0x2000).fill(1), memsz: 0x10_0000 }],
  });

Deno.test("loadKernel: an ELF vmlinux gets the default limits", () => {
  const k = loadKernel(GuestMemory.fromBuffers(64 * MiB), elfImage());
  assert.deepEqual(k, {
    kind: "elf",
    entry: 0x100_0000,
    loadAddr: 0x100_0000,
    end: 0x110_0000,
    initrdAddrMax: ELF_INITRD_ADDR_MAX,
    cmdlineSize: MAX_CMDLINE_LEN,
  });
  assert.equal(ELF_INITRD_ADDR_MAX, 0x7fff_ffff);
  assert.equal(MAX_CMDLINE_LEN, 4095);
});

Deno.test("loadKernel: a bzImage keeps its header; cmdline_size is capped at our buffer", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const k = loadKernel(
    mem,
    makeBzImage({ payload: new Uint8Array(4096).fill(3), initSize: 4 * MiB, cmdlineSize: 0xffff }),
  );
  assert.equal(k.kind, "bzimage");
  assert.equal(k.entry, 0x10_0200);
  assert.equal(k.loadAddr, 0x10_0000);
  assert.equal(k.end, 16 * MiB + 4 * MiB);
  assert.equal(k.cmdlineSize, 4095);
  assert.equal(k.initrdAddrMax, 0x7fff_ffff);
  assert.equal(k.setupHeader?.length, 0x26c - 0x1f1);
  assert.equal(mem.readU8(0x10_0000), 3);
});

Deno.test("loadKernel: an unknown format names what it found", () => {
  const mem = GuestMemory.fromBuffers(MiB);
  assert.throws(
    () => loadKernel(mem, new Uint8Array([1, 2, 3, 4, 5])),
    /neither an ELF vmlinux nor a bzImage: it starts with 01 02 03 04$/,
  );
  assert.throws(() => loadKernel(mem, new Uint8Array([0x1f, 0x8b, 8, 0])), /gzip-compressed/);
});

Deno.test("initrd: page-aligned at the top of low RAM, above the kernel", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const k = loadKernel(mem, elfImage());
  const rd = loadInitrd(mem, new Uint8Array(3 * MiB + 5).fill(9), k);
  assert.equal(rd.size, 3 * MiB + 5);
  assert.equal(rd.addr % 4096, 0);
  assert.equal(rd.addr, 61 * MiB - 4096); // 5 bytes past 3 MiB cost one more page
  assert.ok(rd.addr + rd.size <= 64 * MiB);
  assert.equal(mem.readU8(rd.addr), 9);
  assert.equal(mem.readU8(rd.addr + rd.size - 1), 9);
});

Deno.test("initrd: stays below the kernel's initrd_addr_max", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const k = loadKernel(
    mem,
    makeBzImage({ payload: new Uint8Array(4096), initSize: MiB, initrdAddrMax: 32 * MiB - 1 }),
  );
  const rd = loadInitrd(mem, new Uint8Array(MiB), k);
  assert.equal(rd.addr, 31 * MiB);
});

Deno.test("initrd: too big for the RAM above the kernel is a clear GuestMemoryError", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const k = loadKernel(mem, elfImage()); // ends at 17 MiB
  assert.throws(() => loadInitrd(mem, new Uint8Array(50 * MiB), k), (e: unknown) => {
    assert.ok(e instanceof GuestMemoryError);
    assert.equal(
      e.message,
      "initrd of 50 MiB does not fit in guest RAM below 64 MiB (above the kernel, which ends " +
        "at 17 MiB); give the VM more memory",
    );
    return true;
  });
  const capped = { ...k, initrdAddrMax: 20 * MiB - 1 };
  assert.throws(
    () => loadInitrd(mem, new Uint8Array(4 * MiB), capped),
    /below 20 MiB .*; this kernel takes an initrd only below 20 MiB/,
  );
  assert.throws(() => loadInitrd(mem, new Uint8Array(0), k), /The initrd is empty/);
});
