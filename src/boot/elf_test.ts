import assert from "node:assert/strict";
import { GuestMemory, GuestMemoryError } from "../memory/guest_memory.ts";
import { makeElf } from "./boot_test_support.ts";
import { loadElf, parseElf } from "./elf.ts";

const MiB = 2 ** 20;
const KERNEL_VA = 0xffff_ffff_8100_0000n;

const vmlinuxLike = () =>
  makeElf({
    entry: 0x100_0000n,
    segments: [
      { paddr: 0x100_0000, vaddr: KERNEL_VA, data: new Uint8Array(0x1000).fill(7), memsz: 0x3000 },
      { paddr: 0x100_4000, vaddr: KERNEL_VA + 0x4000n, data: new Uint8Array(0x10).fill(8) },
    ],
    pvhEntry: 0x100_0123,
  });

/** Passes when `fn` throws an ordinary Error with a message, not a RangeError/TypeError. */
const throwsPlainly = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, `not an Error: ${e}`);
    assert.ok(!(e instanceof RangeError) && !(e instanceof TypeError), `${e}`);
    return true;
  });

Deno.test("ELF: segments land at p_paddr, the tail up to p_memsz is zeroed", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  mem.slice(0x100_0000, 0x5000).fill(0xaa); // stale bytes must not survive in .bss
  const elf = loadElf(mem, vmlinuxLike());
  assert.equal(elf.entry, 0x100_0000);
  assert.equal(elf.rawEntry, 0x100_0000n);
  assert.equal(elf.start, 0x100_0000);
  assert.equal(elf.end, 0x100_4010);
  assert.equal(elf.segments.length, 2);
  assert.equal(mem.readU8(0x100_0fff), 7);
  assert.equal(mem.readU8(0x100_1000), 0);
  assert.equal(mem.readU8(0x100_2fff), 0);
  assert.equal(mem.readU8(0x100_3000), 0xaa, "bytes between segments are not touched");
  assert.equal(mem.readU8(0x100_4000), 8);
});

Deno.test("ELF: the PVH entry note is found after another note", () => {
  assert.equal(parseElf(vmlinuxLike()).pvhEntry, 0x100_0123);
  const plain = makeElf({
    entry: 0x100_0000n,
    segments: [{ paddr: 0x100_0000, data: new Uint8Array(4) }],
  });
  assert.equal(parseElf(plain).pvhEntry, undefined);
});

Deno.test("ELF: a virtual e_entry is mapped to its physical address through its segment", () => {
  const elf = makeElf({
    entry: KERNEL_VA + 0x40n,
    segments: [{ paddr: 0x100_0000, vaddr: KERNEL_VA, data: new Uint8Array(0x100) }],
  });
  assert.equal(parseElf(elf).entry, 0x100_0040);
  assert.throws(
    () =>
      parseElf(
        makeElf({ entry: 0x5000n, segments: [{ paddr: 0x100_0000, data: new Uint8Array(4) }] }),
      ),
    /entry point 0x5000 is not inside any loadable segment/,
  );
});

Deno.test("ELF: wrong class, type, machine and magic are refused by name", () => {
  const seg = [{ paddr: 0x100_0000, data: new Uint8Array(16) }];
  const e = (o: object) => makeElf({ entry: 0x100_0000n, segments: seg, ...o });
  assert.throws(() => parseElf(e({ machine: 3 })), /ELF file is for i386, not x86-64/);
  assert.throws(() => parseElf(e({ machine: 183 })), /for AArch64/);
  assert.throws(() => parseElf(e({ type: 3 })), /e_type is ET_DYN, denovmm needs ET_EXEC/);
  assert.throws(() => parseElf(e({ elfClass: 1 })), /not 64-bit/);
  assert.throws(() => parseElf(new Uint8Array(100)), /Not an ELF file/);
});

Deno.test("ELF: truncated files give plain errors at every length", () => {
  const image = vmlinuxLike();
  assert.throws(() => parseElf(image.subarray(0, 40)), /truncated: 40 bytes/);
  assert.throws(() => parseElf(image.subarray(0, 150)), /program headers .* lie outside the/);
  assert.throws(() => parseElf(image.subarray(0, image.length - 1)), /segment 1 .* outside/);
  for (let len = 0; len < image.length; len++) {
    throwsPlainly(() => parseElf(image.subarray(0, len)));
  }
});

Deno.test("ELF: corrupt header bytes never escape as RangeError", () => {
  const good = vmlinuxLike();
  const headers = 64 + 56 * 3;
  for (let i = 0; i < headers; i++) {
    for (const value of [0xff, 0x80]) {
      const bad = good.slice();
      bad[i] = value;
      try {
        parseElf(bad);
      } catch (e) {
        assert.ok(!(e instanceof RangeError) && !(e instanceof TypeError), `byte ${i}: ${e}`);
        assert.ok(e instanceof Error);
      }
    }
  }
});

Deno.test("ELF: a segment outside RAM is a GuestMemoryError, below 1 MiB is refused", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const high = makeElf({
    entry: 0x800_0000n,
    segments: [{ paddr: 0x800_0000, data: new Uint8Array(16) }],
  });
  assert.throws(() => loadElf(mem, high), (e: unknown) => {
    assert.ok(e instanceof GuestMemoryError);
    assert.match(e.message, /segment 0 at 0x8000000-0x8000010 .* give the VM more memory/);
    return true;
  });
  const hole = makeElf({
    entry: 0xe000_0000n,
    segments: [{ paddr: 0xe000_0000, data: new Uint8Array(16) }],
  });
  assert.throws(() => loadElf(mem, hole), /outside any RAM denovmm maps/);
  const low = makeElf({ entry: 0x8000n, segments: [{ paddr: 0x8000, data: new Uint8Array(16) }] });
  assert.throws(() => loadElf(mem, low), /below 1 MiB where denovmm keeps the boot structures/);
});

Deno.test("ELF: p_memsz smaller than p_filesz is refused", () => {
  const elf = makeElf({
    entry: 0x100_0000n,
    segments: [{ paddr: 0x100_0000, data: new Uint8Array(32), memsz: 16 }],
  });
  assert.throws(() => parseElf(elf), /smaller in memory \(16\) than in the file/);
});
