import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_ADDR, GDT_ADDR, PML4_ADDR, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import { makeBzImage, makeElf } from "./boot_test_support.ts";
import { setupBoot } from "./boot_setup.ts";
import { Cmdline } from "./cmdline.ts";
import { E820_TYPE } from "./e820.ts";
import { decodeDescriptor } from "./segment_descriptor.ts";

const MiB = 2 ** 20;
const zp = ZERO_PAGE_ADDR;

const vmlinux = () =>
  makeElf({
    entry: 0x100_0000n,
    segments: [{
      paddr: 0x100_0000,
      vaddr: 0xffff_ffff_8100_0000n,
      data: new Uint8Array(64).fill(0x90),
      memsz: 2 * MiB,
    }],
  });

function readCString(mem: GuestMemory, addr: number): string {
  let end = addr;
  while (mem.readU8(end) !== 0) end++;
  return new TextDecoder().decode(mem.slice(addr, end - addr));
}

Deno.test("setupBoot: an ELF kernel, initrd, command line and 2 CPUs, all consistent", () => {
  const mem = GuestMemory.fromBuffers(128 * MiB);
  const cmdline = Cmdline.parse("console=ttyS0 -- /bin/sh");
  const boot = setupBoot(mem, {
    kernelImage: vmlinux(),
    initrdImage: new Uint8Array(MiB).fill(0x42),
    cmdline,
    cpus: 2,
  });
  assert.equal(boot.kernel.kind, "elf");
  assert.equal(mem.readU8(0x100_0000), 0x90);

  // Registers: entry, boot_params, identity map, flat segments from our GDT.
  assert.equal(boot.regs.rip, 0x100_0000n);
  assert.equal(boot.regs.rsi, BigInt(zp));
  assert.equal(boot.sregs.cr3, BigInt(PML4_ADDR));
  const gdt = mem.slice(GDT_ADDR, boot.sregs.gdt.limit + 1);
  assert.deepEqual(decodeDescriptor(gdt, boot.sregs.cs.selector), boot.sregs.cs);

  // Zero page points at the command line and the initrd.
  assert.equal(mem.readU32(zp + 0x228), CMDLINE_ADDR);
  assert.equal(readCString(mem, CMDLINE_ADDR), "console=ttyS0 -- /bin/sh");
  assert.equal(boot.cmdlineLength, "console=ttyS0 -- /bin/sh".length);
  assert.ok(boot.initrd !== undefined);
  assert.equal(mem.readU32(zp + 0x218), boot.initrd.addr);
  assert.equal(mem.readU32(zp + 0x21c), MiB);
  assert.equal(mem.readU8(boot.initrd.addr), 0x42);
  assert.ok(boot.initrd.addr >= boot.kernel.end);

  // e820: the MP table is reserved, the kernel and initrd are in RAM.
  assert.equal(mem.readU8(zp + 0x1e8), boot.e820.length);
  const covering = (addr: number) =>
    boot.e820.find((e) => addr >= e.addr && addr < e.addr + e.size)?.type;
  assert.equal(covering(boot.mpTable.addr), E820_TYPE.RESERVED);
  assert.equal(covering(boot.kernel.entry), E820_TYPE.RAM);
  assert.equal(covering(boot.initrd.addr + MiB - 1), E820_TYPE.RAM);
  assert.equal(covering(zp), E820_TYPE.RAM);
  assert.equal(new TextDecoder().decode(mem.slice(0x9fff0, 4)), "_MP_");
});

Deno.test("setupBoot: a bzImage boots through its 64-bit entry with its own header", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const boot = setupBoot(mem, {
    kernelImage: makeBzImage({ payload: new Uint8Array(4096), initSize: 4 * MiB }),
    cmdline: Cmdline.parse("quiet"),
    cpus: 1,
  });
  assert.equal(boot.regs.rip, 0x10_0200n);
  assert.equal(boot.initrd, undefined);
  assert.equal(mem.readU16(zp + 0x206), 0x020f);
  assert.equal(mem.readU32(zp + 0x218), 0);
});

Deno.test("setupBoot: a command line longer than the kernel takes is refused", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  assert.throws(
    () =>
      setupBoot(mem, {
        kernelImage: makeBzImage({ payload: new Uint8Array(4096), cmdlineSize: 255 }),
        cmdline: Cmdline.parse("x".repeat(256)),
        cpus: 1,
      }),
    /256 bytes long; this kernel accepts at most 255/,
  );
});
