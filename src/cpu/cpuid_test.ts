import assert from "node:assert/strict";
import type { CpuidEntry } from "../../ffi/kvm_structs.ts";
import { HOST_TEMPLATE, KVM_FEATURE, MINIMAL_TEMPLATE, PVM_MASKS, vcpuCpuid } from "./cpuid.ts";
import { pvmQuirksEnabled } from "./pvm.ts";

const e = (fn: number, index: number, r: Partial<CpuidEntry> = {}): CpuidEntry => ({
  function: fn,
  index,
  flags: 0,
  eax: 0,
  ebx: 0,
  ecx: 0,
  edx: 0,
  ...r,
});
const find = (t: CpuidEntry[], fn: number, index = 0) =>
  t.find((x) => x.function === fn && x.index === index)!;
const supported = [
  e(1, 0, { ebx: 0x0000_0800, ecx: (1 << 13) | (1 << 23), edx: 0 }),
  e(4, 0, { eax: 0x121 }),
  e(7, 0, { ebx: (1 << 16) | (1 << 5), ecx: 1 << 3 }),
  e(0xb, 0),
  e(0xb, 1),
  e(0xb, 2),
  e(0x4000_0001, 0, {
    eax: (1 << KVM_FEATURE.PV_SEND_IPI) | (1 << KVM_FEATURE.PV_SCHED_YIELD) | 1,
  }),
];

Deno.test("CPUID topology: APIC id, logical count, hypervisor bit, leaf 0xB", () => {
  const t = vcpuCpuid(supported, { id: 3, cpus: 4, template: HOST_TEMPLATE });
  const l1 = find(t, 1);
  assert.equal(l1.ebx >>> 24, 3);
  assert.equal((l1.ebx >> 16) & 0xff, 4);
  assert.equal(l1.ebx & 0xffff, 0x800); // CLFLUSH size kept
  assert.ok(l1.ecx & (1 << 31));
  assert.ok(l1.edx & (1 << 28));
  assert.equal(find(t, 4).eax >>> 26, 3);
  assert.deepEqual([find(t, 0xb, 0).ebx, find(t, 0xb, 0).edx], [1, 3]);
  assert.deepEqual([find(t, 0xb, 1).eax, find(t, 0xb, 1).ebx], [2, 4]);
  assert.equal(find(t, 0xb, 2).ebx, 0);
  assert.equal(find(supported, 1).ebx, 0x800, "the input table is not modified");
});

Deno.test("templates: minimal hides AVX-512 and PKU; host keeps them", () => {
  const host = vcpuCpuid(supported, { id: 0, cpus: 1, template: HOST_TEMPLATE });
  const min = vcpuCpuid(supported, { id: 0, cpus: 1, template: MINIMAL_TEMPLATE });
  assert.ok(find(host, 7).ebx & (1 << 16));
  assert.equal(find(min, 7).ebx & (1 << 16), 0);
  assert.ok(find(min, 7).ebx & (1 << 5)); // AVX2 stays
  assert.equal(find(min, 7).ecx & (1 << 3), 0);
});

Deno.test("PVM masks: no cx16, no PV send-IPI or sched-yield, other KVM features kept", () => {
  const t = vcpuCpuid(supported, {
    id: 0,
    cpus: 2,
    template: HOST_TEMPLATE,
    extraMasks: PVM_MASKS,
  });
  assert.equal(find(t, 1).ecx & (1 << 13), 0);
  assert.ok(find(t, 1).ecx & (1 << 23)); // popcnt is not masked in CPUID (the cmdline hides it)
  assert.equal(find(t, 0x4000_0001).eax, 1);
});

Deno.test("PVM quirks mode: auto follows detection, on/off force it", () => {
  assert.equal(pvmQuirksEnabled("auto", () => true), true);
  assert.equal(pvmQuirksEnabled("auto", () => false), false);
  assert.equal(pvmQuirksEnabled("on", () => false), true);
  assert.equal(pvmQuirksEnabled("off", () => true), false);
});
