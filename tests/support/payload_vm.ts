/**
 * A tiny VM for KVM plumbing tests: 1 MiB of RAM, no in-kernel irqchip (so HLT exits to
 * userspace), vCPUs started directly in 32-bit protected mode with flat segments, running a few
 * hand-assembled bytes. No GDT or IDT in memory: KVM takes the segment state from KVM_SET_SREGS,
 * and an IDT of limit 0 turns any exception into a triple fault.
 *
 * @module
 */

import { Kvm, type Vcpu, type Vm } from "../../ffi/kvm.ts";
import type { KvmSegment } from "../../ffi/kvm_structs.ts";
import { IoBus } from "../../src/devices/bus.ts";
import type { GuestMemory } from "../../src/memory/guest_memory.ts";
import { allocateGuestRam, type GuestRam } from "../../src/vmm/guest_ram.ts";
import { VcpuThread } from "../../src/vmm/vcpu_thread.ts";

/** True when this process can open /dev/kvm read/write. */
export const HAS_KVM: boolean = (() => {
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
})();

const flat = (type: number, selector: number): KvmSegment => ({
  base: 0n,
  limit: 0xffff_ffff,
  selector,
  type,
  present: 1,
  dpl: 0,
  db: 1,
  s: 1,
  l: 0,
  g: 1,
  avl: 0,
  unusable: 0,
});

/** A payload VM with its buses; dispose it to release every fd and mapping. */
export class PayloadVm implements AsyncDisposable {
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly ram: GuestRam;
  readonly pio = new IoBus();
  readonly mmio = new IoBus();
  readonly vcpus: Vcpu[] = [];
  readonly threads: VcpuThread[] = [];

  /** @example `await using p = new PayloadVm()` */
  constructor(memBytes = 1 << 20) {
    this.kvm = Kvm.open();
    this.vm = this.kvm.createVm();
    this.ram = allocateGuestRam(this.vm, memBytes);
  }

  /** Guest RAM. */
  get memory(): GuestMemory {
    return this.ram.memory;
  }

  /**
   * Adds a vCPU that starts at `entry` in flat 32-bit protected mode, with its code copied there.
   *
   * @example
   * ```ts
   * p.addVcpu(0x1000, [0xf4]); // hlt
   * ```
   */
  addVcpu(entry: number, code: number[]): VcpuThread {
    this.memory.write(entry, new Uint8Array(code));
    const vcpu = this.vm.createVcpu(this.vcpus.length, this.kvm.vcpuMmapSize());
    this.vcpus.push(vcpu);
    const s = vcpu.getSregs();
    s.cs = flat(11, 8);
    for (const seg of ["ds", "es", "fs", "gs", "ss"] as const) s[seg] = flat(3, 16);
    s.cr0 = 0x11n; // PE | ET
    s.idt = { base: 0n, limit: 0 };
    vcpu.setSregs(s);
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(entry), rflags: 2n, rsp: 0x8000n });
    const t = new VcpuThread({ vcpu, pio: this.pio, mmio: this.mmio, stopOnHlt: true });
    this.threads.push(t);
    return t;
  }

  /** Stops any vCPU still running and releases everything. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const t of this.threads) t.requestStop();
    await Promise.all(this.threads.map((t) => t.stopped));
    for (const v of this.vcpus) v.close();
    this.vm.close();
    this.ram[Symbol.dispose]();
    this.kvm.close();
  }
}

/**
 * A bus device that records writes and answers reads from a function.
 *
 * @example
 * ```ts
 * const rec = new Recorder(() => 0);
 * ```
 */
export class Recorder {
  readonly writes: { offset: number; bytes: number[] }[] = [];
  readonly #answer: (offset: number, size: number) => number;

  /** @example `new Recorder((off) => off)` */
  constructor(answer: (offset: number, size: number) => number = () => 0) {
    this.#answer = answer;
  }

  /** Bus read. */
  read(offset: number, data: Uint8Array): void {
    let v = this.#answer(offset, data.length);
    for (let i = 0; i < data.length; i++, v = Math.floor(v / 256)) data[i] = v & 0xff;
  }

  /** Bus write. */
  write(offset: number, data: Uint8Array): void {
    this.writes.push({ offset, bytes: [...data] });
  }
}
