import assert from "node:assert/strict";
import { exitReasonName, SYSTEM_IOCTLS, VCPU_IOCTLS, VM_IOCTLS } from "./kvm_ioctls.ts";
import {
  APIC_DELIVERY,
  APIC_REG,
  cpuid2Buffer,
  decodeCpuid2,
  decodeMsrs,
  decodeRegs,
  decodeSregs,
  encodeCpuid2,
  encodeFpu,
  encodeIoeventfd,
  encodeIrqfd,
  encodeMemoryRegion,
  encodeMsrs,
  encodeRegs,
  encodeSregs,
  KVM_FPU_OFFSETS,
  KVM_FPU_SIZE,
  KVM_LAPIC_STATE_SIZE,
  KVM_REGS_SIZE,
  KVM_SREGS_SIZE,
  type KvmSegment,
  setLvtDeliveryMode,
} from "./kvm_structs.ts";

const u64 = (b: Uint8Array, o: number) => new DataView(b.buffer).getBigUint64(o, true);
const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer).getUint32(o, true);

Deno.test("ioctl numbers match <linux/kvm.h> on x86-64", () => {
  // Values as the C preprocessor computes them (cross-checked with a C program once).
  assert.equal(SYSTEM_IOCTLS.KVM_GET_API_VERSION, 0xae00);
  assert.equal(SYSTEM_IOCTLS.KVM_CREATE_VM, 0xae01);
  assert.equal(SYSTEM_IOCTLS.KVM_GET_SUPPORTED_CPUID, 0xc008ae05);
  assert.equal(VM_IOCTLS.KVM_SET_USER_MEMORY_REGION, 0x4020ae46);
  assert.equal(VM_IOCTLS.KVM_IRQFD, 0x4020ae76);
  assert.equal(VM_IOCTLS.KVM_IOEVENTFD, 0x4040ae79);
  assert.equal(VM_IOCTLS.KVM_CREATE_PIT2, 0x4040ae77);
  assert.equal(VM_IOCTLS.KVM_IRQ_LINE, 0x4008ae61);
  assert.equal(VCPU_IOCTLS.KVM_RUN, 0xae80);
  assert.equal(VCPU_IOCTLS.KVM_GET_REGS, 0x8090ae81);
  assert.equal(VCPU_IOCTLS.KVM_SET_SREGS, 0x4138ae84);
  assert.equal(VCPU_IOCTLS.KVM_SET_CPUID2, 0x4008ae90);
  assert.equal(VCPU_IOCTLS.KVM_SET_FPU, 0x41a0ae8d);
  assert.equal(VCPU_IOCTLS.KVM_GET_LAPIC, 0x8400ae8e);
  assert.equal(VCPU_IOCTLS.KVM_SET_MSRS, 0x4008ae89);
});

Deno.test("kvm_regs: rip at 128, rflags at 136, round trip", () => {
  const b = new Uint8Array(KVM_REGS_SIZE);
  const regs = decodeRegs(b);
  encodeRegs(b, { ...regs, rax: 1n, rsi: 0x7000n, rip: 0x1000000n, rflags: 2n });
  assert.equal(u64(b, 0), 1n);
  assert.equal(u64(b, 32), 0x7000n);
  assert.equal(u64(b, 128), 0x1000000n);
  assert.equal(u64(b, 136), 2n);
  assert.equal(decodeRegs(b).rip, 0x1000000n);
});

Deno.test("kvm_sregs: segment and control-register offsets, round trip", () => {
  const b = new Uint8Array(KVM_SREGS_SIZE);
  const s = decodeSregs(b);
  const cs: KvmSegment = {
    ...s.cs,
    base: 0x1234n,
    limit: 0xfffff,
    selector: 8,
    type: 11,
    present: 1,
    l: 1,
    g: 1,
  };
  encodeSregs(b, {
    ...s,
    cs,
    tr: { ...s.tr, selector: 0x18 },
    cr0: 0x80000011n,
    efer: 0x500n,
    gdt: { base: 0x500n, limit: 31 },
  });
  assert.equal(u64(b, 0), 0x1234n); // cs.base
  assert.equal(u32(b, 8), 0xfffff); // cs.limit
  assert.equal(new DataView(b.buffer).getUint16(12, true), 8); // cs.selector
  assert.equal(b[14], 11); // cs.type
  assert.equal(b[19], 1); // cs.l
  assert.equal(new DataView(b.buffer).getUint16(144 + 12, true), 0x18); // tr.selector
  assert.equal(u64(b, 192), 0x500n); // gdt.base
  assert.equal(new DataView(b.buffer).getUint16(200, true), 31); // gdt.limit
  assert.equal(u64(b, 224), 0x80000011n); // cr0
  assert.equal(u64(b, 264), 0x500n); // efer
  const back = decodeSregs(b);
  assert.deepEqual(back.cs, cs);
  assert.equal(back.efer, 0x500n);
});

Deno.test("kvm_fpu: fcw at 128, mxcsr at 408", () => {
  const b = new Uint8Array(KVM_FPU_SIZE);
  encodeFpu(b, { fcw: 0x37f, mxcsr: 0x1f80 });
  assert.equal(KVM_FPU_OFFSETS.mxcsr, 408);
  assert.equal(new DataView(b.buffer).getUint16(128, true), 0x37f);
  assert.equal(u32(b, 408), 0x1f80);
});

Deno.test("kvm_msrs and kvm_cpuid2 encode their headers and entries", () => {
  const m = encodeMsrs([{ index: 0x174, data: 5n }, {
    index: 0xc0000082,
    data: 0xffffffff81000000n,
  }]);
  assert.equal(m.length, 8 + 2 * 16);
  assert.equal(u32(m, 0), 2);
  assert.equal(u32(m, 8 + 16), 0xc0000082);
  assert.equal(u64(m, 8 + 16 + 8), 0xffffffff81000000n);
  assert.deepEqual(decodeMsrs(m, 2)[0], { index: 0x174, data: 5n });

  const entry = {
    function: 0x40000001,
    index: 0,
    flags: 1,
    eax: 0xffffffff,
    ebx: 2,
    ecx: 3,
    edx: 4,
  };
  const c = encodeCpuid2([entry]);
  assert.equal(c.length, 8 + 40);
  assert.equal(u32(c, 8), 0x40000001);
  assert.equal(u32(c, 8 + 12), 0xffffffff); // eax at +12
  assert.deepEqual(decodeCpuid2(c), [entry]);
  assert.equal(u32(cpuid2Buffer(7), 0), 7);
});

Deno.test("memory region, irqfd and ioeventfd layouts", () => {
  const r = encodeMemoryRegion({
    slot: 1,
    flags: 0,
    guestPhysAddr: 0x100000000n,
    memorySize: 1n << 30n,
    userspaceAddr: 0x7f0000000000n,
  });
  assert.equal(r.length, 32);
  assert.equal(u32(r, 0), 1);
  assert.equal(u64(r, 8), 0x100000000n);
  assert.equal(u64(r, 16), 1n << 30n);
  assert.equal(u64(r, 24), 0x7f0000000000n);
  const i = encodeIrqfd({ fd: 9, gsi: 5, flags: 0 });
  assert.deepEqual([u32(i, 0), u32(i, 4), i.length], [9, 5, 32]);
  const e = encodeIoeventfd({ datamatch: 2n, addr: 0xd0000050n, len: 4, fd: 11, flags: 1 });
  assert.deepEqual([u64(e, 0), u64(e, 8), u32(e, 16), u32(e, 20), u32(e, 24), e.length], [
    2n,
    0xd0000050n,
    4,
    11,
    1,
    64,
  ]);
});

Deno.test("LVT delivery mode keeps the other bits", () => {
  const l = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  new DataView(l.buffer).setUint32(APIC_REG.LVT_LINT0, 0x10000 | 0x700 | 0x20, true);
  setLvtDeliveryMode(l, APIC_REG.LVT_LINT0, APIC_DELIVERY.NMI);
  assert.equal(u32(l, APIC_REG.LVT_LINT0), 0x10000 | 0x400 | 0x20);
});

Deno.test("exit reasons have names", () => {
  assert.equal(exitReasonName(2), "IO");
  assert.equal(exitReasonName(17), "INTERNAL_ERROR");
  assert.equal(exitReasonName(999), "exit 999");
});
