import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { GuestMemory } from "../memory/guest_memory.ts";
import { makeBzImage, makeElf } from "./boot_test_support.ts";
import { parseBzImage } from "./bzimage.ts";
import { parseElf } from "./elf.ts";
import { loadInitrd, loadKernel } from "./kernel_loader.ts";

const MiB = 2 ** 20;

Deno.test("ELF: segments land at their physical addresses, bss is zeroed, entry is physical", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  mem.slice(0x1000000, 0x3000).fill(0xaa);
  const data = new Uint8Array(0x1000).fill(7);
  const elf = makeElf({
    entry: 0x1000000n,
    segments: [{ paddr: 0x1000000, vaddr: 0xffffffff81000000n, data, memsz: 0x3000 }],
    pvhEntry: 0x1000123,
  });
  const k = loadKernel(mem, elf);
  assert.equal(k.kind, "elf");
  assert.equal(k.entry, 0x1000000);
  assert.equal(k.end, 0x1003000);
  assert.equal(mem.readU8(0x1000fff), 7);
  assert.equal(mem.readU8(0x1001000), 0); // bss cleared
  assert.equal(parseElf(elf).pvhEntry, 0x1000123);
});

Deno.test("ELF: a virtual entry point is mapped through its segment", () => {
  const elf = makeElf({
    entry: 0xffffffff81000040n,
    segments: [{
      paddr: 0x1000000,
      vaddr: 0xffffffff81000000n,
      data: new Uint8Array(0x100),
      memsz: 0x100,
    }],
  });
  assert.equal(parseElf(elf).entry, 0x1000040);
});

Deno.test("ELF: truncated, wrong machine, outside RAM", () => {
  const seg = [{ paddr: 0x100000, vaddr: 0x100000n, data: new Uint8Array(0x100), memsz: 0x100 }];
  const elf = makeElf({ entry: 0x100000n, segments: seg });
  assert.throws(() => parseElf(elf.subarray(0, 40)), /truncated/);
  assert.throws(
    () => parseElf(elf.subarray(0, 150)),
    /program headers lie outside|segment 0 lies outside/,
  );
  assert.throws(
    () => parseElf(makeElf({ entry: 0x100000n, segments: seg, machine: 3 })),
    /not for x86-64/,
  );
  const high = makeElf({ entry: 0x8000000n, segments: [{ ...seg[0], paddr: 0x8000000 }] });
  assert.throws(
    () => loadKernel(GuestMemory.fromBuffers(64 * MiB), high),
    /does not fit in guest RAM/,
  );
  assert.throws(
    () => parseElf(makeElf({ entry: 0x5000n, segments: seg })),
    /not inside any loadable segment/,
  );
});

Deno.test("bzImage: header parsed, kernel at 1 MiB, 64-bit entry at +0x200", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const payload = new Uint8Array(8192).fill(3);
  const k = loadKernel(mem, makeBzImage({ payload, initSize: 4 * MiB }));
  assert.equal(k.kind, "bzimage");
  assert.equal(k.entry, 0x100200);
  assert.equal(k.end, 0x100000 + 4 * MiB);
  assert.equal(k.cmdlineSize, 2047);
  assert.equal(mem.readU8(0x100000), 3);
  assert.equal(k.setupHeader![0], 4); // setup_sects at 0x1f1
  assert.equal(k.setupHeader!.length, 0x268 - 0x1f1);
});

Deno.test("bzImage: wrong magic, old protocol, no 64-bit entry", () => {
  const payload = new Uint8Array(1024);
  assert.throws(() => parseBzImage(makeBzImage({ payload, magic: 0 })), /no HdrS signature/);
  assert.throws(() => parseBzImage(makeBzImage({ payload, version: 0x020a })), /2\.10 is too old/);
  assert.throws(() => parseBzImage(makeBzImage({ payload, xloadflags: 0 })), /no 64-bit entry/);
  assert.throws(
    () => loadKernel(GuestMemory.fromBuffers(MiB), new Uint8Array(100)),
    /neither an ELF/,
  );
});

Deno.test("initrd: placed page-aligned at the top of low RAM; too big is a plain error", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const k = loadKernel(mem, makeBzImage({ payload: new Uint8Array(4096), initSize: 8 * MiB }));
  const rd = loadInitrd(mem, new Uint8Array(3 * MiB + 5).fill(9), k);
  assert.equal(rd.addr % 4096, 0);
  assert.ok(rd.addr + rd.size <= 64 * MiB);
  assert.ok(rd.addr >= k.end);
  assert.equal(mem.readU8(rd.addr), 9);
  assert.throws(() => loadInitrd(mem, new Uint8Array(60 * MiB), k), /does not fit in guest RAM/);
  assert.throws(
    () => loadInitrd(GuestMemory.fromBuffers(MiB), new Uint8Array(10), k),
  );
});

// The real default-guest kernel, when it has been built (deno task guest).
const cache = `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/denovmm/guest`;
const built = existsSync(cache)
  ? readdirSync(cache).map((d) => `${cache}/${d}`).find((d) => existsSync(`${d}/manifest.json`))
  : undefined;

Deno.test({
  name: "the built guest's vmlinux and bzImage parse",
  ignore: built === undefined,
  fn: async () => {
    const elf = parseElf(await Deno.readFile(`${built}/vmlinux`));
    assert.equal(elf.entry, 0x1000000);
    assert.ok(elf.pvhEntry !== undefined);
    const bz = parseBzImage(await Deno.readFile(`${built}/bzImage`));
    assert.ok(bz.version >= 0x020c);
    const mem = GuestMemory.fromBuffers(256 * MiB);
    assert.equal(loadKernel(mem, await Deno.readFile(`${built}/bzImage`)).entry, 0x100200);
  },
});
