import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { CMDLINE_ADDR } from "../memory/layout.ts";
import { Cmdline, splitCmdline } from "./cmdline.ts";

const MiB = 2 ** 20;

Deno.test("cmdline: init arguments stay last when kernel arguments are pushed later", () => {
  const c = Cmdline.parse("console=ttyS0 reboot=k -- sh -c ls");
  c.push("virtio_mmio.device=4K@0xd0000000:5").push("panic=-1");
  c.pushInit("-l");
  assert.equal(
    c.toString(),
    "console=ttyS0 reboot=k virtio_mmio.device=4K@0xd0000000:5 panic=-1 -- sh -c ls -l",
  );
  assert.deepEqual(c.initArgs, ["sh", "-c", "ls", "-l"]);
  assert.deepEqual(c.args, [
    "console=ttyS0",
    "reboot=k",
    "virtio_mmio.device=4K@0xd0000000:5",
    "panic=-1",
  ]);
  assert.equal(Cmdline.parse("quiet").toString(), "quiet");
  assert.equal(Cmdline.parse("-- /init").toString(), "-- /init");
  assert.equal(Cmdline.parse("a -- b -- c").initArgs.join(" "), "b -- c");
});

Deno.test("cmdline: has() matches key and key=..., not prefixes, not init arguments", () => {
  const c = Cmdline.parse("console=ttyS0 quiet initcall_blacklist=x -- nokaslr");
  assert.ok(c.has("console"));
  assert.ok(c.has("quiet"));
  assert.ok(!c.has("cons"));
  assert.ok(c.has("console=ttyS0"));
  assert.ok(!c.has("console=ttyS0x"));
  assert.ok(!c.has("nokaslr"), "init arguments are not kernel parameters");
  assert.ok(c.has("initcall-blacklist"), "the kernel treats - and _ alike in names");
});

Deno.test("cmdline: double quotes keep white space inside one argument", () => {
  assert.deepEqual(splitCmdline(' a  "b c"=1 d="e f"\tg '), ["a", '"b c"=1', 'd="e f"', "g"]);
  const c = new Cmdline().push('dyndbg="file foo.c +p"');
  assert.equal(c.toString(), 'dyndbg="file foo.c +p"');
  assert.ok(c.has("dyndbg"));
  assert.throws(() => Cmdline.parse('a="b'), /unbalanced double quote/);
});

Deno.test("cmdline: bad arguments are refused", () => {
  assert.throws(() => new Cmdline().push("a b"), /white space outside double quotes/);
  assert.throws(() => new Cmdline().push(""), /cannot be empty/);
  assert.throws(() => new Cmdline().push("a\0b"), /NUL/);
  assert.throws(() => new Cmdline().push("--"), /pushInit/);
});

Deno.test("cmdline: write() puts a NUL-terminated string in guest memory", () => {
  const mem = GuestMemory.fromBuffers(MiB);
  mem.slice(CMDLINE_ADDR, 64).fill(0xee);
  const c = Cmdline.parse("console=ttyS0 -- echo hi");
  const len = c.write(mem, CMDLINE_ADDR, 2047);
  assert.equal(len, c.toString().length);
  assert.equal(
    new TextDecoder().decode(mem.slice(CMDLINE_ADDR, len)),
    "console=ttyS0 -- echo hi",
  );
  assert.equal(mem.readU8(CMDLINE_ADDR + len), 0);
});

Deno.test("cmdline: longer than the kernel's cmdline_size is refused; exactly at it is fine", () => {
  const mem = GuestMemory.fromBuffers(MiB);
  assert.throws(
    () => Cmdline.parse("x".repeat(3000)).write(mem, CMDLINE_ADDR, 2047),
    /3000 bytes long; this kernel accepts at most 2047/,
  );
  assert.equal(Cmdline.parse("y".repeat(2047)).write(mem, CMDLINE_ADDR, 2047), 2047);
  assert.equal(mem.readU8(CMDLINE_ADDR + 2047), 0);
  // Lengths are counted in UTF-8 bytes, as the kernel sees them.
  assert.throws(() => new Cmdline().push("é".repeat(6)).write(mem, CMDLINE_ADDR, 11), /12 bytes/);
});
