/**
 * A running microVM: KVM VM, guest RAM, in-kernel irqchip and PIT, the legacy PC devices, the
 * loaded kernel and one Worker per vCPU. {@link Machine.create} builds it, `start()` runs it and
 * `exited` resolves with how the guest ended.
 *
 * @module
 */

import { Kvm, type Vcpu, type Vm } from "../../ffi/kvm.ts";
import { KVM_CAP } from "../../ffi/kvm_ioctls.ts";
import { KVM_PIT_SPEAKER_DUMMY } from "../../ffi/kvm_structs.ts";
import { setupBoot } from "../boot/boot_setup.ts";
import { Cmdline } from "../boot/cmdline.ts";
import { CPU_TEMPLATES, PVM_MASKS, vcpuCpuid } from "../cpu/cpuid.ts";
import { PVM_CMDLINE, pvmQuirksEnabled } from "../cpu/pvm.ts";
import { IoBus } from "../devices/bus.ts";
import { type LegacyDevices, registerLegacyDevices } from "../devices/legacy/mod.ts";
import type { Serial } from "../devices/legacy/serial.ts";
import { logger } from "../log.ts";
import { COM1_IRQ, I8042_IRQ, KVM_IDENTITY_MAP_ADDR, KVM_TSS_ADDR } from "../memory/layout.ts";
import { formatCrashReport } from "./crash_report.ts";
import type { VcpuStopReason } from "./exit_mailbox.ts";
import { allocateGuestRam, type GuestRam } from "./guest_ram.ts";
import { EventLoop } from "./event_loop.ts";
import { buildDevices, type MachineDevices } from "./machine_devices.ts";
import { PanicDetector } from "./panic_detector.ts";
import type { PortStream } from "./port_stream.ts";
import { placeVirtioDevices } from "./virtio_slots.ts";
import { setupVcpu } from "./vcpu_setup.ts";
import { type VcpuExitCounters, VcpuThread } from "./vcpu_thread.ts";
import type { BlockDevice } from "../virtio/block/device.ts";
import type { NetDevice } from "../virtio/net/device.ts";
import type { VirtioDevice } from "../virtio/device.ts";

const log = logger("vm");

import {
  BootImageError,
  type MachineConfig,
  type MachineExit,
  MAX_INIT_ARGS,
} from "./machine_config.ts";

export {
  BootImageError,
  DEFAULT_CMDLINE,
  exitCodeOf,
  type MachineConfig,
  type MachineExit,
  MAX_INIT_ARGS,
  VIRTIO_CONSOLE_CMDLINE,
} from "./machine_config.ts";

/**
 * A microVM.
 *
 * @example
 * ```ts
 * await using m = Machine.create({ kernel, initrd, cmdline: DEFAULT_CMDLINE, memMiB: 256,
 *   cpus: 1, cpuTemplate: "host", pvmQuirks: "auto", consoleOutput: (b) => Deno.stdout.writeSync(b) });
 * m.start();
 * console.log(await m.exited);
 * ```
 */
export class Machine {
  readonly #kvm: Kvm;
  readonly #vm: Vm;
  readonly #ram: GuestRam;
  readonly #vcpus: Vcpu[];
  readonly #threads: VcpuThread[];
  readonly #serial: Serial;
  readonly #legacy: LegacyDevices;
  readonly #devices: MachineDevices;
  readonly #loop: EventLoop;
  readonly #closeSlots: () => void;
  readonly #panic = new PanicDetector();
  readonly #exited: Promise<MachineExit>;
  #resolveExit!: (e: MachineExit) => void;
  #exit?: MachineExit;
  #started = false;
  #released = false;
  #paused = false;

  private constructor(
    parts: {
      kvm: Kvm;
      vm: Vm;
      ram: GuestRam;
      vcpus: Vcpu[];
      pio: IoBus;
      mmio: IoBus;
      devices: MachineDevices;
      loop: EventLoop;
      closeSlots: () => void;
    },
    legacyOf: (m: Machine) => LegacyDevices,
  ) {
    this.#kvm = parts.kvm;
    this.#vm = parts.vm;
    this.#ram = parts.ram;
    this.#vcpus = parts.vcpus;
    this.#devices = parts.devices;
    this.#loop = parts.loop;
    this.#closeSlots = parts.closeSlots;
    this.#legacy = legacyOf(this);
    this.#serial = this.#legacy.serial;
    this.#exited = new Promise((r) => (this.#resolveExit = r));
    this.#threads = parts.vcpus.map((vcpu) =>
      new VcpuThread({
        vcpu,
        pio: parts.pio,
        mmio: parts.mmio,
        onUnhandled: (kind, addr, size, write) =>
          log.debug(
            `unhandled ${kind} ${write ? "write" : "read"} at 0x${
              addr.toString(16)
            } (${size} bytes)`,
          ),
      })
    );
  }

  /**
   * Builds the VM: KVM objects, RAM, devices, the loaded kernel and configured vCPUs. Nothing
   * runs until {@link start}. Throws with a plain message when the host cannot run it.
   *
   * @example
   * ```ts
   * const m = Machine.create(config);
   * ```
   */
  static create(config: MachineConfig): Machine {
    const template = CPU_TEMPLATES[config.cpuTemplate];
    if (template === undefined) {
      throw new Error(
        `Unknown CPU template "${config.cpuTemplate}" (known: ${
          Object.keys(CPU_TEMPLATES).join(", ")
        })`,
      );
    }
    const kvm = Kvm.open(config.kvmPath);
    const cleanup: (() => void)[] = [() => kvm.close()];
    try {
      for (
        const [name, cap] of Object.entries({
          IRQCHIP: KVM_CAP.IRQCHIP,
          IOEVENTFD: KVM_CAP.IOEVENTFD,
          IRQFD: KVM_CAP.IRQFD,
          IMMEDIATE_EXIT: KVM_CAP.IMMEDIATE_EXIT,
          PIT2: KVM_CAP.PIT2,
        })
      ) {
        if (kvm.checkExtension(cap) === 0) {
          throw new Error(`This host's KVM lacks KVM_CAP_${name}, which denovmm needs`);
        }
      }
      const maxVcpus = kvm.checkExtension(KVM_CAP.MAX_VCPUS) ||
        kvm.checkExtension(KVM_CAP.NR_VCPUS);
      if (config.cpus > maxVcpus) {
        throw new Error(`This host's KVM allows at most ${maxVcpus} vCPUs`);
      }

      const quirks = pvmQuirksEnabled(config.pvmQuirks);
      const cmdline = Cmdline.parse(config.cmdline);
      if (cmdline.initArgs.length > MAX_INIT_ARGS) {
        // Linux panics ("Too many boot init vars") before any console is up: refuse it here.
        throw new Error(
          `The guest command has ${cmdline.initArgs.length} words; Linux passes at most ${MAX_INIT_ARGS} arguments to init (put a longer command in a script)`,
        );
      }
      if (quirks) {
        log
          .info`Host KVM is kvm_pvm: applying the PVM CPU settings (CPUID without cx16 and KVM PV send-IPI/sched-yield; guest command line ${
          PVM_CMDLINE.join(" ")
        }). Turn off with --pvm-quirks off.`;
        for (const arg of PVM_CMDLINE) if (!cmdline.has(arg.split("=")[0])) cmdline.push(arg);
      }

      const vm = kvm.createVm();
      cleanup.push(() => vm.close());
      vm.setTssAddr(KVM_TSS_ADDR);
      vm.setIdentityMapAddr(KVM_IDENTITY_MAP_ADDR);
      vm.createIrqchip();
      vm.createPit2(KVM_PIT_SPEAKER_DUMMY);

      const ram = allocateGuestRam(vm, config.memMiB * 2 ** 20);
      cleanup.push(() => ram[Symbol.dispose]());

      const virtioConsole = config.console === "virtio";
      // The devices exist before the Machine that receives their console output.
      const owner: { machine?: Machine } = {};
      const consoleOutput = (bytes: Uint8Array) => {
        if (owner.machine !== undefined) owner.machine.#consoleOutput(bytes, config.consoleOutput);
      };
      const loop = new EventLoop((e) => log.error(`device event failed: ${(e as Error).message}`));
      cleanup.push(() => void loop.close());
      const devices = buildDevices({
        disks: config.disks ?? [],
        virtioConsole,
        ports: config.ports ?? [],
        consoleOutput,
        nets: config.nets,
        loop,
      });
      cleanup.push(() => devices.close());
      const mmio = new IoBus();
      const placed = placeVirtioDevices(vm, ram.memory, mmio, loop, devices.devices);
      cleanup.push(placed.close);
      for (const slot of placed.slots) cmdline.push(slot.cmdlineArg);
      if (virtioConsole && !cmdline.has("console")) cmdline.push("console=hvc0");
      let boot;
      try {
        boot = setupBoot(ram.memory, {
          kernelImage: config.kernel,
          initrdImage: config.initrd,
          cmdline,
          cpus: config.cpus,
        });
      } catch (e) {
        throw new BootImageError((e as Error).message);
      }
      log.info(
        `Loaded ${boot.kernel.kind} kernel, entry 0x${
          boot.kernel.entry.toString(16)
        }; command line: ${cmdline.toString()}`,
      );

      const supported = kvm.supportedCpuid();
      const mmapSize = kvm.vcpuMmapSize();
      const vcpus: Vcpu[] = [];
      cleanup.push(() => vcpus.forEach((v) => v.close()));
      for (let id = 0; id < config.cpus; id++) {
        const vcpu = vm.createVcpu(id, mmapSize);
        vcpus.push(vcpu);
        const cpuid = vcpuCpuid(supported, {
          id,
          cpus: config.cpus,
          template,
          extraMasks: quirks ? PVM_MASKS : [],
        });
        const refused = setupVcpu(vcpu, {
          cpuid,
          boot: id === 0 ? { regs: boot.regs, sregs: boot.sregs } : undefined,
        });
        if (refused.length > 0) {
          log.debug(
            `vCPU ${id}: KVM refused boot MSRs ${
              refused.map((m) => "0x" + m.toString(16)).join(", ")
            }`,
          );
        }
      }

      const pio = new IoBus();
      const machine = new Machine({
        kvm,
        vm,
        ram,
        vcpus,
        pio,
        mmio,
        devices,
        loop,
        closeSlots: placed.close,
      }, (m) =>
        registerLegacyDevices(pio, {
          serialOutput: (bytes: Uint8Array) => m.#consoleOutput(bytes, config.consoleOutput),
          serialInterrupt: () => {
            vm.irqLine(COM1_IRQ, 1);
            vm.irqLine(COM1_IRQ, 0);
          },
          onReset: () => m.#end({ kind: "reset" }),
          keyboardInterrupt: () => {
            vm.irqLine(I8042_IRQ, 1);
            vm.irqLine(I8042_IRQ, 0);
          },
        }));
      owner.machine = machine;
      return machine;
    } catch (e) {
      for (const f of cleanup.reverse()) f();
      throw e;
    }
  }

  #consoleOutput(bytes: Uint8Array, sink: (b: Uint8Array) => void): void {
    this.#panic.feed(bytes);
    sink(bytes);
  }

  /** The guest's serial port (feed it host input with `enqueueInput`). */
  get serial(): Serial {
    return this.#serial;
  }

  /** Resolves once every vCPU has stopped and every host resource is released. */
  get exited(): Promise<MachineExit> {
    return this.#exited;
  }

  /** Per-vCPU exit counters. */
  get vcpuCounters(): Readonly<VcpuExitCounters>[] {
    return this.#threads.map((t) => t.counters);
  }

  /**
   * Sends host input to the guest console (serial or virtio); resolves once the guest has it.
   *
   * @example
   * ```ts
   * await m.consoleWrite(new TextEncoder().encode("uname -a\n"));
   * ```
   */
  async consoleWrite(bytes: Uint8Array): Promise<void> {
    const con = this.#devices.console;
    if (con !== undefined && this.#devices.virtioConsole) return await con.sendInput(0, bytes);
    let rest = bytes;
    while (rest.length > 0 && this.#exit === undefined) {
      rest = rest.subarray(this.#serial.enqueueInput(rest));
      if (rest.length > 0) await this.#serial.waitForRxSpace();
    }
  }

  /**
   * The host end of a named virtio-console port (from `ports` in the config).
   *
   * @example
   * ```ts
   * const agent = m.port("denovmm.agent");
   * ```
   */
  port(name: string): PortStream {
    const p = this.#devices.ports.get(name);
    if (p === undefined) throw new Error(`This VM has no console port named ${name}`);
    return p;
  }

  /** The block devices, for their counters. */
  get disks(): readonly BlockDevice[] {
    return this.#devices.disks;
  }

  /** The network devices (eth0 first), for their counters and MACs. */
  get nets(): readonly NetDevice[] {
    return this.#devices.nets;
  }

  /** Every virtio device (disks, console, entropy, ...), in slot order, for metrics. */
  get virtioDevices(): readonly VirtioDevice[] {
    return this.#devices.devices;
  }

  /**
   * Presses and releases Ctrl-Alt-Del on the guest's PS/2 keyboard (IRQ 1). Returns false when
   * the guest is not reading its keyboard (no i8042/atkbd driver, scanning off, or an earlier
   * Ctrl-Alt-Del still unread). A Linux guest reboots (with `reboot=k` the VM then ends).
   *
   * @example
   * ```ts
   * if (!m.sendCtrlAltDel()) console.error("the guest has no keyboard driver");
   * ```
   */
  sendCtrlAltDel(): boolean {
    return this.#legacy.i8042.sendCtrlAltDel();
  }

  /** True between {@link pause} and {@link resume}. */
  get paused(): boolean {
    return this.#paused && this.#exit === undefined;
  }

  /**
   * Pauses the guest: every vCPU leaves `KVM_RUN` and waits, its Worker, fd and registers kept.
   * Resolves once all are parked. Devices are not frozen: I/O already in flight completes into
   * guest memory and its interrupt waits in the in-kernel irqchip; nothing new can arrive from
   * the guest, and the guest clock keeps running (the guest sees the pause as lost time).
   *
   * @example
   * ```ts
   * await m.pause();
   * m.resume();
   * ```
   */
  async pause(): Promise<void> {
    if (!this.#started) throw new Error("The VM is not started");
    if (this.#exit !== undefined) throw new Error("The VM has ended");
    this.#paused = true;
    await Promise.all(this.#threads.map((t) => t.pause()));
  }

  /** Lets a paused guest run on from where it stopped. @example `m.resume()` */
  resume(): void {
    if (this.#exit !== undefined) throw new Error("The VM has ended");
    this.#paused = false;
    for (const t of this.#threads) t.resume();
  }

  /** Starts every vCPU. @example `m.start()` */
  start(): void {
    if (this.#started) throw new Error("The VM is already started");
    this.#started = true;
    this.#loop.start();
    for (const t of this.#threads) {
      t.start();
      t.stopped.then((reason) => this.#onVcpuStopped(t.id, reason));
    }
  }

  /**
   * Stops the guest from the host side (like pulling the plug) and waits for the release.
   *
   * @example
   * ```ts
   * await m.stop();
   * ```
   */
  async stop(): Promise<MachineExit> {
    this.#end({ kind: "stopped" });
    return await this.#exited;
  }

  #onVcpuStopped(id: number, reason: VcpuStopReason): void {
    switch (reason.kind) {
      case "requested":
        return;
      case "hlt":
        return this.#end({ kind: "crashed", message: `vCPU ${id} halted with interrupts off` });
      case "shutdown":
        // A triple fault: how `reboot=t` resets a PC, so the guest ended itself.
        return this.#end({ kind: "reset" });
      case "system-event":
        return this.#end({ kind: "reset" });
      case "internal-error":
        return this.#end({
          kind: "crashed",
          message: `vCPU ${id}: KVM internal error (suberror ${reason.suberror})`,
          report: formatCrashReport(this.#ram.memory, id, reason.state),
        });
      case "fail-entry":
        return this.#end({
          kind: "crashed",
          message: `vCPU ${id}: KVM could not enter the guest (hardware reason 0x${
            reason.hardwareReason.toString(16)
          })`,
          report: formatCrashReport(this.#ram.memory, id, reason.state),
        });
      case "error":
        return this.#end({
          kind: "crashed",
          message: `vCPU ${id}: ${reason.message}`,
          report: reason.state ? formatCrashReport(this.#ram.memory, id, reason.state) : undefined,
        });
    }
  }

  #end(exit: MachineExit): void {
    if (this.#exit !== undefined) return;
    const panic = this.#panic.message;
    this.#exit = panic !== undefined && exit.kind === "reset"
      ? { kind: "panic", message: panic }
      : exit;
    for (const t of this.#threads) t.requestStop();
    this.#release();
  }

  async #release(): Promise<void> {
    await Promise.all(this.#threads.map((t) => (this.#started ? t.stopped : undefined)));
    if (this.#released) return;
    this.#released = true;
    await this.#loop.close();
    // No backend may still be writing into guest RAM when it is unmapped.
    await Promise.all(this.#devices.devices.map((d) => d.quiesce()));
    this.#closeSlots();
    this.#devices.close();
    for (const p of this.#devices.ports.values()) p.close();
    for (const v of this.#vcpus) v.close();
    this.#vm.close();
    this.#ram[Symbol.dispose]();
    this.#kvm.close();
    this.#resolveExit(this.#exit!);
  }

  /** `await using` support: stops the VM if it still runs. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
