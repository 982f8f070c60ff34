import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { builtGuestDir } from "./boot_test_support.ts";
import { setupBoot } from "./boot_setup.ts";
import { loadBzImage, parseBzImage } from "./bzimage.ts";
import { Cmdline } from "./cmdline.ts";
import { parseElf } from "./elf.ts";

const MiB = 2 ** 20;
const dir = builtGuestDir();
const ignore = dir === undefined;
const why = ignore
  ? " (skipped: no built guest in ~/.cache/denovmm/guest; run `deno task guest`)"
  : "";

Deno.test({
  name: `the built guest's vmlinux parses and sets up a boot${why}`,
  ignore,
  fn: async () => {
    const image = await Deno.readFile(`${dir}/vmlinux`);
    const elf = parseElf(image);
    assert.equal(elf.entry, 0x100_0000); // startup_64 at CONFIG_PHYSICAL_START
    assert.ok(elf.pvhEntry !== undefined, "CONFIG_PVH=y kernels carry the Xen PHYS32 note");
    assert.ok(elf.start >= 0x100_0000);
    const mem = GuestMemory.fromBuffers(256 * MiB);
    const boot = setupBoot(mem, {
      kernelImage: image,
      initrdImage: await Deno.readFile(`${dir}/initramfs.cpio.gz`).catch(() => undefined),
      cmdline: Cmdline.parse("console=ttyS0 reboot=k panic=-1"),
      cpus: 2,
    });
    assert.equal(boot.regs.rip, 0x100_0000n);
    if (boot.initrd) assert.ok(boot.initrd.addr >= elf.end);
  },
});

Deno.test({
  name: `the built guest's bzImage parses and loads at 1 MiB${why}`,
  ignore,
  fn: async () => {
    const image = await Deno.readFile(`${dir}/bzImage`);
    const hdr = parseBzImage(image);
    assert.ok(hdr.version >= 0x020c);
    assert.ok(hdr.initSize > 0);
    const bz = loadBzImage(GuestMemory.fromBuffers(256 * MiB), image);
    assert.equal(bz.entry, 0x10_0200);
    assert.ok(bz.end >= bz.runAddr + hdr.initSize);
  },
});
