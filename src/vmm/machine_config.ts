/**
 * What a machine is built from and how it ends: the config, the default command lines, the
 * exit kinds and their process exit codes.
 *
 * @module
 */

import type { PvmQuirksMode } from "../cpu/pvm.ts";
import type { DiskConfig, NetConfig } from "./machine_devices.ts";

/** The default kernel command line (the VMM appends its own device and quirk arguments). */
export const DEFAULT_CMDLINE = "console=ttyS0 reboot=k panic=-1";
/** Linux's MAX_INIT_ARGS: more arguments after ` -- ` make the kernel panic at boot. */
export const MAX_INIT_ARGS = 32;

/** The default command line with the console on virtio-console (hvc0). */
export const VIRTIO_CONSOLE_CMDLINE = "console=hvc0 reboot=k panic=-1";

/** Everything needed to build a Machine. */
export interface MachineConfig {
  /** Kernel image: an uncompressed ELF `vmlinux` or a bzImage. */
  kernel: Uint8Array;
  /** Optional initramfs image. */
  initrd?: Uint8Array;
  /** Kernel command line; init arguments may follow ` -- `. */
  cmdline: string;
  /** Guest RAM in MiB. */
  memMiB: number;
  /** Number of vCPUs (1 or more). */
  cpus: number;
  /** CPU template name (see CPU_TEMPLATES). */
  cpuTemplate: string;
  /** Whether to apply the kvm_pvm host settings (`auto` detects the host). */
  pvmQuirks: PvmQuirksMode;
  /** Receives the guest's serial console output. */
  consoleOutput: (bytes: Uint8Array) => void;
  /** `/dev/kvm` path. */
  kvmPath?: string;
  /** Disks, in guest order (/dev/vda first). */
  disks?: DiskConfig[];
  /** Where the guest console is: the 16550A (`ttyS0`, default) or virtio-console (`hvc0`). */
  console?: "serial" | "virtio";
  /** Named virtio-console ports to expose as streams (see {@link Machine.port}). */
  ports?: string[];
  /** Network interfaces on existing taps, in guest order (eth0 first). */
  nets?: NetConfig[];
}

/** The kernel, initrd or command line cannot be booted as given (a user error, not a VMM fault). */
export class BootImageError extends Error {
  /** @example `throw new BootImageError("The initrd is empty")` */
  constructor(message: string) {
    super(message);
    this.name = "BootImageError";
  }
}

/** How a guest ended. */
export type MachineExit =
  | { kind: "reset" }
  | { kind: "panic"; message: string }
  | { kind: "stopped" }
  | { kind: "crashed"; message: string; report?: string };

/**
 * The process exit code for a machine exit: 0 when the guest ended itself, 1 on a guest kernel
 * panic, 3 when the VMM had to stop a vCPU on an error, 0 for a host-requested stop.
 *
 * @example
 * ```ts
 * Deno.exitCode = exitCodeOf(await machine.exited);
 * ```
 */
export function exitCodeOf(e: MachineExit): number {
  switch (e.kind) {
    case "reset":
    case "stopped":
      return 0;
    case "panic":
      return 1;
    case "crashed":
      return 3;
  }
}
