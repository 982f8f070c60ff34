/**
 * The body of a vCPU Worker: a synchronous `KVM_RUN` loop. PIO and MMIO exits go to the main
 * thread through the shared mailbox (see `exit_mailbox.ts`); everything else that ends the loop
 * is reported once with `postMessage`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { Vcpu } from "../../ffi/kvm.ts";
import { KVM_EXIT, KVM_EXIT_IO_OUT } from "../../ffi/kvm_ioctls.ts";
import { KVM_RUN_OFFSETS as RUN } from "../../ffi/kvm_structs.ts";
import { libc } from "../../ffi/libc.ts";
import {
  ACCESS,
  MAILBOX_DATA_OFFSET,
  MB,
  STATE,
  type VcpuEvent,
  type VcpuInit,
  type VcpuState,
  type VcpuStopReason,
} from "./exit_mailbox.ts";

function captureState(vcpu: Vcpu): VcpuState | undefined {
  try {
    const regs = vcpu.getRegs();
    const s = vcpu.getSregs();
    return {
      regs: { ...regs },
      sregs: {
        cr0: s.cr0,
        cr3: s.cr3,
        cr4: s.cr4,
        efer: s.efer,
        cs: s.cs.selector,
        csBase: s.cs.base,
      },
    };
  } catch {
    return undefined;
  }
}

/**
 * Runs the vCPU until something ends it. Exported for tests; the Worker calls it on its init
 * message.
 *
 * @example
 * ```ts
 * const reason = runLoop(init);
 * ```
 */
export function runLoop(init: VcpuInit): VcpuStopReason {
  const vcpu = Vcpu.attach(init.fd, init.id, init.runAddr, init.runSize);
  const run = vcpu.runBytes;
  const runView = new DataView(run.buffer, run.byteOffset, run.byteLength);
  const mb = new Int32Array(init.mailbox);
  const mbBytes = new Uint8Array(init.mailbox);

  // One device access through the mailbox; false when the VMM is stopping.
  const access = (kind: number, addr: number, size: number, data: Uint8Array, dataOff: number) => {
    mb[MB.KIND] = kind;
    mb[MB.SIZE] = size;
    mb[MB.ADDR_LO] = addr | 0;
    mb[MB.ADDR_HI] = Math.floor(addr / 0x1_0000_0000);
    const out = kind === ACCESS.PIO_OUT || kind === ACCESS.MMIO_WRITE;
    for (let i = 0; i < size; i++) {
      mbBytes[MAILBOX_DATA_OFFSET + i] = out ? data[dataOff + i] : 0;
    }
    Atomics.store(mb, MB.STATE, STATE.REQUEST);
    Atomics.notify(mb, MB.STATE);
    while (Atomics.load(mb, MB.STATE) === STATE.REQUEST) {
      Atomics.wait(mb, MB.STATE, STATE.REQUEST);
    }
    if (!out) {
      for (let i = 0; i < size; i++) {
        data[dataOff + i] = mbBytes[MAILBOX_DATA_OFFSET + i];
      }
    }
    Atomics.store(mb, MB.STATE, STATE.IDLE);
    return Atomics.load(mb, MB.STOP) === 0;
  };

  // Pause: wait outside KVM_RUN until resumed or stopped. The vCPU's registers and any exit
  // KVM has yet to complete (an IN whose data is already in kvm_run) stay in the kernel, so the
  // next KVM_RUN continues exactly where the guest was.
  const park = () => {
    Atomics.store(mb, MB.PARKED, 1);
    Atomics.notify(mb, MB.PARKED);
    while (Atomics.load(mb, MB.PAUSE) !== 0 && Atomics.load(mb, MB.STOP) === 0) {
      Atomics.wait(mb, MB.PAUSE, 1);
    }
    Atomics.store(mb, MB.PARKED, 0);
  };

  try {
    for (;;) {
      if (Atomics.load(mb, MB.STOP) !== 0) return { kind: "requested" };
      if (Atomics.load(mb, MB.PAUSE) !== 0) {
        park();
        continue;
      }
      const reason = vcpu.run();
      switch (reason) {
        case KVM_EXIT.IO: {
          const out = run[RUN.io.direction] === KVM_EXIT_IO_OUT;
          const size = run[RUN.io.size];
          const port = runView.getUint16(RUN.io.port, true);
          const count = runView.getUint32(RUN.io.count, true);
          let off = Number(runView.getBigUint64(RUN.io.dataOffset, true));
          const kind = out ? ACCESS.PIO_OUT : ACCESS.PIO_IN;
          for (let i = 0; i < count; i++, off += size) {
            if (!access(kind, port, size, run, off)) return { kind: "requested" };
          }
          break;
        }
        case KVM_EXIT.MMIO: {
          const addr = Number(runView.getBigUint64(RUN.mmio.physAddr, true));
          const len = runView.getUint32(RUN.mmio.len, true);
          const kind = run[RUN.mmio.isWrite] ? ACCESS.MMIO_WRITE : ACCESS.MMIO_READ;
          if (!access(kind, addr, len, run, RUN.mmio.data)) return { kind: "requested" };
          break;
        }
        case KVM_EXIT.INTR:
          break; // a kick: the loop head checks STOP and PAUSE
        case KVM_EXIT.HLT:
          if (init.stopOnHlt) return { kind: "hlt" };
          break;
        case KVM_EXIT.SHUTDOWN:
          return { kind: "shutdown" };
        case KVM_EXIT.SYSTEM_EVENT:
          return { kind: "system-event", event: runView.getUint32(RUN.systemEvent.type, true) };
        case KVM_EXIT.INTERNAL_ERROR: {
          const n = Math.min(runView.getUint32(RUN.internal.ndata, true), 16);
          const data: bigint[] = [];
          for (let i = 0; i < n; i++) {
            data.push(runView.getBigUint64(RUN.internal.data + 8 * i, true));
          }
          return {
            kind: "internal-error",
            suberror: runView.getUint32(RUN.internal.suberror, true),
            data,
            state: captureState(vcpu)!,
          };
        }
        case KVM_EXIT.FAIL_ENTRY:
          return {
            kind: "fail-entry",
            hardwareReason: runView.getBigUint64(RUN.failEntry.hardwareEntryFailureReason, true),
            state: captureState(vcpu)!,
          };
        default:
          return {
            kind: "error",
            message: `unexpected KVM exit reason ${reason}`,
            state: captureState(vcpu),
          };
      }
    }
  } catch (e) {
    return {
      kind: "error",
      message: e instanceof Error ? e.message : String(e),
      state: captureState(vcpu),
    };
  } finally {
    vcpu.unmap();
  }
}

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onmessage = (e: MessageEvent<VcpuInit>) => {
    const init = e.data;
    const started: VcpuEvent = {
      type: "started",
      id: init.id,
      thread: libc.symbols.pthread_self(),
    };
    self.postMessage(started);
    const reason = runLoop(init);
    const stopped: VcpuEvent = { type: "stopped", id: init.id, reason };
    // The thread stays until the main thread terminates it after reading this message, so a kick
    // sent in the meantime never targets a thread that has already exited.
    self.postMessage(stopped);
  };
}
