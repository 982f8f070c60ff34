import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import {
  GDT_ADDR,
  MPTABLE_ADDR,
  PD_ADDR,
  PDPT_ADDR,
  PML4_ADDR,
  ZERO_PAGE_ADDR,
} from "../memory/layout.ts";
import { makeBzImage, makeElf } from "./boot_test_support.ts";
import { Cmdline } from "./cmdline.ts";
import { bootRegs, bootSegments, decodeGdtEntry, gdtEntry, writeGdtAndSregs } from "./gdt.ts";
import { loadInitrd, loadKernel } from "./kernel_loader.ts";
import { writeMpTable } from "./mptable.ts";
import { writeIdentityMap } from "./page_tables.ts";
import { BOOT_PARAMS, E820, e820Map, writeZeroPage } from "./zero_page.ts";

const MiB = 2 ** 20;
const sum = (b: Uint8Array) => b.reduce((a, x) => a + x, 0) & 0xff;

Deno.test("zero page: setup-header fields at their boot-protocol offsets", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const kernel = loadKernel(mem, makeBzImage({ payload: new Uint8Array(4096), initSize: 4 * MiB }));
  const initrd = loadInitrd(mem, new Uint8Array(MiB), kernel);
  writeZeroPage(mem, { kernel, initrd, cmdlineAddr: 0x20000, cmdlineSize: 42 });
  const zp = ZERO_PAGE_ADDR;
  assert.equal(mem.readU32(zp + 0x202), 0x53726448); // "HdrS"
  assert.equal(mem.readU8(zp + 0x210), 0xff); // type_of_loader
  assert.equal(mem.readU8(zp + 0x211) & 1, 1); // LOADED_HIGH
  assert.equal(mem.readU32(zp + 0x218), initrd.addr); // ramdisk_image
  assert.equal(mem.readU32(zp + 0x21c), MiB); // ramdisk_size
  assert.equal(mem.readU32(zp + 0x228), 0x20000); // cmd_line_ptr
  assert.equal(mem.readU32(zp + 0x238), 42); // cmdline_size
});

Deno.test("zero page for an ELF kernel carries a minimal header", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const kernel = loadKernel(
    mem,
    makeElf({
      entry: 0x1000000n,
      segments: [{ paddr: 0x1000000, vaddr: 0x1000000n, data: new Uint8Array(16), memsz: 16 }],
    }),
  );
  writeZeroPage(mem, { kernel, cmdlineAddr: 0x20000, cmdlineSize: 10 });
  assert.equal(mem.readU16(ZERO_PAGE_ADDR + 0x1fe), 0xaa55);
  assert.equal(mem.readU32(ZERO_PAGE_ADDR + 0x202), 0x53726448);
  assert.equal(mem.readU32(ZERO_PAGE_ADDR + 0x218), 0); // no initrd
});

Deno.test("e820: 256 MiB and 5 GiB (around the MMIO hole)", () => {
  const small = e820Map(GuestMemory.fromBuffers(256 * MiB));
  assert.deepEqual(small, [
    { addr: 0, size: 0x9fc00, type: E820.RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820.RESERVED },
    { addr: 0x100000, size: 256 * MiB - 0x100000, type: E820.RAM },
  ]);
  const big = e820Map(GuestMemory.fromBuffers(5 * 1024 * MiB));
  assert.equal(big.length, 4);
  assert.deepEqual(big[2], { addr: 0x100000, size: 0xd0000000 - 0x100000, type: E820.RAM });
  assert.deepEqual(big[3], { addr: 2 ** 32, size: 5 * 1024 * MiB - 0xd0000000, type: E820.RAM });
  const mem = GuestMemory.fromBuffers(256 * MiB);
  const kernel = loadKernel(mem, makeBzImage({ payload: new Uint8Array(16) }));
  writeZeroPage(mem, { kernel, cmdlineAddr: 0x20000, cmdlineSize: 1 });
  assert.equal(mem.readU8(ZERO_PAGE_ADDR + BOOT_PARAMS.E820_ENTRIES), 3);
  const e2 = ZERO_PAGE_ADDR + BOOT_PARAMS.E820_TABLE + 2 * 20;
  assert.equal(mem.readU64(e2), 0x100000n);
  assert.equal(mem.readU32(e2 + 16), E820.RAM);
});

Deno.test("identity map: 4 GiB with 2 MiB pages", () => {
  const mem = GuestMemory.fromBuffers(16 * MiB);
  assert.equal(writeIdentityMap(mem), BigInt(PML4_ADDR));
  assert.equal(mem.readU64(PML4_ADDR), BigInt(PDPT_ADDR) | 3n);
  assert.equal(mem.readU64(PDPT_ADDR + 8 * 3), BigInt(PD_ADDR + 3 * 4096) | 3n);
  assert.equal(mem.readU64(PD_ADDR), 0x83n);
  assert.equal(mem.readU64(PD_ADDR + 8 * 5), (5n << 21n) | 0x83n);
  assert.equal(mem.readU64(PD_ADDR + 4096 * 3 + 8 * 511), 0xffe00000n | 0x83n);
});

Deno.test("GDT: descriptors decode back to the segment registers KVM gets", () => {
  const mem = GuestMemory.fromBuffers(16 * MiB);
  const s = writeGdtAndSregs(mem, 0x9000n);
  assert.equal(gdtEntry(bootSegments().code), 0x00af9b000000ffffn);
  assert.equal(gdtEntry(bootSegments().data), 0x00cf93000000ffffn);
  for (const seg of [s.cs, s.ds, s.tr]) {
    const d = mem.readU64(GDT_ADDR + seg.selector);
    assert.deepEqual(decodeGdtEntry(d, seg.selector), seg);
  }
  assert.equal(s.cs.l, 1);
  assert.equal(s.cs.db, 0);
  assert.equal(s.efer & 0x500n, 0x500n);
  assert.equal(s.cr0 & 0x80000001n, 0x80000001n);
  assert.equal(s.gdt.limit, 31);
  assert.equal(bootRegs(0x1000000).rsi, BigInt(ZERO_PAGE_ADDR));
});

Deno.test("MP table: checksums, one processor entry per CPU, IOAPIC after the CPUs", () => {
  for (const cpus of [1, 4, 64]) {
    const mem = GuestMemory.fromBuffers(16 * MiB);
    const { addr, size } = writeMpTable(mem, cpus);
    assert.equal(addr, MPTABLE_ADDR);
    const fp = mem.slice(addr, 16);
    assert.equal(new TextDecoder().decode(fp.subarray(0, 4)), "_MP_");
    assert.equal(sum(fp), 0);
    const tableAddr = mem.readU32(addr + 4);
    const len = mem.readU16(tableAddr + 4);
    assert.equal(16 + len, size);
    const table = mem.slice(tableAddr, len);
    assert.equal(new TextDecoder().decode(table.subarray(0, 4)), "PCMP");
    assert.equal(sum(table), 0);
    assert.equal(mem.readU16(tableAddr + 34), cpus + 2 + 24 + 2);
    let o = tableAddr + 44;
    for (let id = 0; id < cpus; id++, o += 20) {
      assert.equal(mem.readU8(o), 0);
      assert.equal(mem.readU8(o + 1), id);
      assert.equal(mem.readU8(o + 3), id === 0 ? 3 : 1);
    }
    assert.equal(mem.readU8(o + 8), 2); // IOAPIC entry follows the bus entry
    assert.equal(mem.readU8(o + 9), cpus);
  }
  assert.throws(() => writeMpTable(GuestMemory.fromBuffers(MiB), 0), /1 to 254/);
});

Deno.test("command line: init arguments stay last; too long is refused", () => {
  const c = Cmdline.parse("console=ttyS0 reboot=k -- echo hi");
  c.push("virtio_mmio.device=4K@0xd0000000:5");
  assert.equal(
    c.toString(),
    "console=ttyS0 reboot=k virtio_mmio.device=4K@0xd0000000:5 -- echo hi",
  );
  assert.ok(c.has("console"));
  assert.ok(!c.has("cons"));
  const mem = GuestMemory.fromBuffers(MiB);
  assert.equal(c.write(mem, 0x20000, 2047), c.toString().length + 1);
  assert.equal(mem.readU8(0x20000 + c.toString().length), 0);
  assert.throws(
    () => Cmdline.parse("x".repeat(3000)).write(mem, 0x20000, 2047),
    /3000 bytes; this kernel accepts at most 2047/,
  );
  assert.throws(() => new Cmdline().push("a b"), /white space/);
});
