import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_ADDR, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import { makeBzImage, makeElf } from "./boot_test_support.ts";
import { E820_TYPE } from "./e820.ts";
import { loadInitrd, loadKernel } from "./kernel_loader.ts";
import { writeMpTable } from "./mptable.ts";
import { BOOT_PARAMS, E820_ENTRY_SIZE, SETUP_HEADER, writeZeroPage } from "./zero_page.ts";

const MiB = 2 ** 20;
const zp = ZERO_PAGE_ADDR;

Deno.test("zero page: offsets are those of zero-page.rst and boot.rst", () => {
  assert.equal(BOOT_PARAMS.EXT_RAMDISK_IMAGE, 0x0c0);
  assert.equal(BOOT_PARAMS.EXT_RAMDISK_SIZE, 0x0c4);
  assert.equal(BOOT_PARAMS.EXT_CMD_LINE_PTR, 0x0c8);
  assert.equal(BOOT_PARAMS.E820_ENTRIES, 0x1e8);
  assert.equal(BOOT_PARAMS.SENTINEL, 0x1ef);
  assert.equal(BOOT_PARAMS.HDR, 0x1f1);
  assert.equal(BOOT_PARAMS.E820_TABLE, 0x2d0);
  assert.equal(SETUP_HEADER.TYPE_OF_LOADER, 0x210);
  assert.equal(SETUP_HEADER.RAMDISK_IMAGE, 0x218);
  assert.equal(SETUP_HEADER.RAMDISK_SIZE, 0x21c);
  assert.equal(SETUP_HEADER.CMD_LINE_PTR, 0x228);
  assert.equal(SETUP_HEADER.CMDLINE_SIZE, 0x238);
  assert.equal(E820_ENTRY_SIZE, 20);
  // All 128 e820 entries fit in the 4 KiB page.
  assert.ok(BOOT_PARAMS.E820_TABLE + 128 * E820_ENTRY_SIZE <= BOOT_PARAMS.SIZE);
});

Deno.test("zero page for a bzImage: header copied, loader fields filled in", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  mem.slice(zp, 4096).fill(0x5a); // a stale page must be cleared
  const image = makeBzImage({
    payload: new Uint8Array(4096),
    initSize: 4 * MiB,
    cmdlineSize: 2047,
  });
  image[0x211] |= 0x80; // CAN_USE_HEAP as if a previous loader had set it
  const kernel = loadKernel(mem, image);
  const initrd = loadInitrd(mem, new Uint8Array(MiB), kernel);
  const mp = writeMpTable(mem, 1);
  const map = writeZeroPage(mem, { kernel, initrd, cmdlineAddr: CMDLINE_ADDR, reserved: [mp] });

  assert.equal(mem.readU8(zp + 0x1f1), 4); // hdr.setup_sects: the header starts at 0x1f1
  assert.equal(mem.readU16(zp + 0x1fe), 0xaa55);
  assert.equal(mem.readU32(zp + 0x202), 0x5372_6448); // "HdrS"
  assert.equal(mem.readU16(zp + 0x206), 0x020f); // the kernel's own version is kept
  assert.equal(mem.readU8(zp + 0x210), 0xff); // type_of_loader
  assert.equal(mem.readU8(zp + 0x211), 0x01); // LOADED_HIGH, CAN_USE_HEAP cleared
  assert.equal(mem.readU32(zp + 0x218), initrd.addr); // ramdisk_image
  assert.equal(mem.readU32(zp + 0x21c), MiB); // ramdisk_size
  assert.equal(mem.readU32(zp + 0x228), CMDLINE_ADDR); // cmd_line_ptr
  assert.equal(mem.readU32(zp + 0x238), 2047); // cmdline_size: the kernel's, untouched
  assert.equal(mem.readU32(zp + 0x0c0), 0); // ext_ramdisk_image
  assert.equal(mem.readU32(zp + 0x0c8), 0); // ext_cmd_line_ptr
  assert.equal(mem.readU8(zp + 0x1ef), 0); // sentinel
  assert.equal(mem.readU8(zp + 0x26c), 0, "nothing past the header survives");

  assert.equal(mem.readU8(zp + 0x1e8), 3); // e820_entries
  assert.equal(map.length, 3);
  map.forEach((e, i) => {
    const o = zp + 0x2d0 + 20 * i;
    assert.equal(mem.readU64(o), BigInt(e.addr));
    assert.equal(mem.readU64(o + 8), BigInt(e.size));
    assert.equal(mem.readU32(o + 16), e.type);
  });
  assert.equal(mem.readU64(zp + 0x2d0 + 40), 0x10_0000n);
  assert.equal(mem.readU32(zp + 0x2d0 + 40 + 16), E820_TYPE.RAM);
});

Deno.test("zero page for an ELF vmlinux: a minimal header is made up", () => {
  const mem = GuestMemory.fromBuffers(64 * MiB);
  const kernel = loadKernel(
    mem,
    makeElf({ entry: 0x100_0000n, segments: [{ paddr: 0x100_0000, data: new Uint8Array(16) }] }),
  );
  writeZeroPage(mem, { kernel, cmdlineAddr: CMDLINE_ADDR });
  assert.equal(mem.readU16(zp + 0x1fe), 0xaa55); // boot_flag
  assert.equal(mem.readU32(zp + 0x202), 0x5372_6448); // header
  assert.equal(mem.readU16(zp + 0x206), 0x020c); // version 2.12
  assert.equal(mem.readU8(zp + 0x210), 0xff);
  assert.equal(mem.readU8(zp + 0x211), 0x01);
  assert.equal(mem.readU32(zp + 0x22c), 0x7fff_ffff); // initrd_addr_max
  assert.equal(mem.readU32(zp + 0x230), 0x20_0000); // kernel_alignment
  assert.equal(mem.readU32(zp + 0x238), 4095); // cmdline_size
  assert.equal(mem.readU32(zp + 0x228), CMDLINE_ADDR);
  assert.equal(mem.readU32(zp + 0x218), 0); // no initrd
  assert.equal(mem.readU32(zp + 0x21c), 0);
});

Deno.test("zero page: an initrd above 4 GiB uses the ext_ramdisk fields", () => {
  const mem = GuestMemory.fromBuffers(32 * MiB);
  const kernel = loadKernel(
    mem,
    makeElf({ entry: 0x100_0000n, segments: [{ paddr: 0x100_0000, data: new Uint8Array(16) }] }),
  );
  writeZeroPage(mem, {
    kernel,
    initrd: { addr: 0x1_2345_6000, size: 0x1_0000_0010 },
    cmdlineAddr: CMDLINE_ADDR,
  });
  assert.equal(mem.readU32(zp + 0x218), 0x2345_6000);
  assert.equal(mem.readU32(zp + 0x0c0), 1);
  assert.equal(mem.readU32(zp + 0x21c), 0x10);
  assert.equal(mem.readU32(zp + 0x0c4), 1);
});
