import assert from "node:assert/strict";
import { GuestMemory } from "../memory/guest_memory.ts";
import { BOOT_STACK_ADDR, GDT_ADDR, IDT_ADDR, ZERO_PAGE_ADDR } from "../memory/layout.ts";
import { BOOT_SELECTOR, bootRegs, bootSegments, bootSregs, GDT_SIZE, writeGdt } from "./gdt.ts";
import { decodeDescriptor, encodeDescriptor, type Segment } from "./segment_descriptor.ts";

const MiB = 2 ** 20;

Deno.test("GDT: the table decodes back to exactly the segment registers KVM gets", () => {
  const mem = GuestMemory.fromBuffers(MiB);
  mem.slice(GDT_ADDR, 0x100).fill(0xcc);
  const tables = writeGdt(mem);
  const s = bootSregs(0x9000n);
  assert.deepEqual(tables, { gdt: s.gdt, idt: s.idt });
  const gdt = mem.slice(GDT_ADDR, s.gdt.limit + 1);
  for (const seg of [s.cs, s.ds, s.es, s.fs, s.gs, s.ss, s.tr]) {
    assert.deepEqual(decodeDescriptor(gdt, seg.selector), seg, `selector ${seg.selector}`);
  }
  assert.equal(mem.readU64(GDT_ADDR), 0n); // null descriptor
  assert.equal(mem.readU64(GDT_ADDR + 8), 0n); // 0x08 unused, as in the kernel's boot GDT
  assert.equal(mem.readU64(GDT_ADDR + 0x10), 0x00af_9b00_0000_ffffn); // 64-bit code
  assert.equal(mem.readU64(GDT_ADDR + 0x18), 0x00cf_9300_0000_ffffn); // flat data
  assert.equal(mem.readU64(GDT_ADDR + 0x20), 0x0000_8b00_0000_0067n); // busy 64-bit TSS
  assert.equal(mem.readU64(GDT_ADDR + 0x28), 0n); // its upper half (base 63:32)
  assert.equal(mem.readU64(IDT_ADDR), 0n);
  assert.equal(mem.readU64(IDT_ADDR + 8), 0n);
  assert.equal(mem.readU8(IDT_ADDR + 16), 0xcc, "the IDT is 16 bytes");
});

Deno.test("GDT: selectors and register values of the 64-bit boot protocol", () => {
  const s = bootSregs(0x9000n);
  assert.equal(s.cs.selector, 0x10); // __BOOT_CS
  for (const seg of [s.ds, s.es, s.ss, s.fs, s.gs]) assert.equal(seg.selector, 0x18); // __BOOT_DS
  assert.equal(s.tr.selector, BOOT_SELECTOR.TSS);
  assert.equal(s.cs.l, 1);
  assert.equal(s.cs.db, 0);
  assert.equal(s.ds.db, 1);
  assert.equal(s.tr.type, 0xb);
  assert.equal(s.ldt.unusable, 1);
  assert.deepEqual(s.gdt, { base: BigInt(GDT_ADDR), limit: GDT_SIZE - 1 });
  assert.deepEqual(s.idt, { base: BigInt(IDT_ADDR), limit: 15 });
  assert.equal(s.cr0, 0x8000_0031n); // PG | NE | ET | PE
  assert.equal(s.cr3, 0x9000n);
  assert.equal(s.cr4, 0x20n); // PAE
  assert.equal(s.efer, 0x500n); // LMA | LME
  assert.ok(GDT_ADDR + GDT_SIZE <= IDT_ADDR, "GDT and IDT must not overlap");
});

Deno.test("boot registers: RIP at the entry, RSI at the zero page, RFLAGS bit 1", () => {
  assert.deepEqual(bootRegs(0x100_0000, ZERO_PAGE_ADDR), {
    rip: 0x100_0000n,
    rsi: BigInt(ZERO_PAGE_ADDR),
    rsp: BigInt(BOOT_STACK_ADDR),
    rbp: 0n,
    rflags: 2n,
  });
});

Deno.test("descriptors: encode/decode round trip, 64-bit TSS base, bad limits", () => {
  const tss: Segment = {
    ...bootSegments().tss,
    base: 0xffff_8880_1234_5678n,
    limit: 0x2067,
  };
  const words = encodeDescriptor(tss);
  assert.equal(words.length, 2);
  const bytes = new Uint8Array(16);
  const v = new DataView(bytes.buffer);
  words.forEach((w, i) => v.setBigUint64(8 * i, w, true));
  assert.deepEqual(decodeDescriptor(bytes, 0), { ...tss, selector: 0 });
  const code = bootSegments().code;
  assert.throws(() => encodeDescriptor({ ...code, limit: 0xffff_f000 }), /4 KiB granularity/);
  assert.throws(() => encodeDescriptor({ ...code, g: 0, limit: 0x10_0000 }), /needs 4 KiB/);
  assert.throws(() => decodeDescriptor(new Uint8Array(8), 0x8), /past the GDT/);
});
