/**
 * denovmm: a microVM monitor in TypeScript on Deno and KVM.
 *
 * The library API boots a Linux guest from TypeScript. {@link MicroVm} is a scripted sandbox:
 * a VM whose guest agent runs commands and moves files. {@link Machine} is the whole VM underneath;
 * the lower layers (the KVM wrappers, guest memory, CPU templates) are exported for tools and
 * tests that need them.
 *
 * @example
 * ```ts
 * import { MicroVm } from "./mod.ts";
 *
 * await using vm = await MicroVm.boot();
 * const r = await vm.run("sh", { args: ["-c", "echo hi; echo oops >&2; exit 3"] });
 * console.log(r.exitCode, r.stdout, r.stderr); // 3 "hi\n" "oops\n"
 * await vm.writeFile("/tmp/in.txt", "data");
 * console.log(new TextDecoder().decode(await vm.readFile("/tmp/in.txt"))); // "data"
 * ```
 *
 * @example
 * ```ts
 * import { Machine, DEFAULT_CMDLINE, defaultGuest } from "./mod.ts";
 *
 * const guest = await defaultGuest();
 * const machine = Machine.create({
 *   kernel: await Deno.readFile(guest.kernel),
 *   initrd: await Deno.readFile(guest.initrd),
 *   cmdline: `${DEFAULT_CMDLINE} -- uname -a`,
 *   memMiB: 256,
 *   cpus: 1,
 *   cpuTemplate: "host",
 *   pvmQuirks: "auto",
 *   consoleOutput: (bytes) => Deno.stdout.writeSync(bytes),
 * });
 * machine.start();
 * console.log(await machine.exited); // { kind: "reset" } once the guest reboots itself
 * ```
 * @module
 */

export {
  AGENT_PORT,
  BootError,
  describeExit,
  MicroVm,
  type MicroVmOptions,
} from "./src/sandbox/micro_vm.ts";
export { GUEST_BASE_ENV, SandboxProcess } from "./src/sandbox/sandbox_process.ts";
export {
  CommandTimeoutError,
  type ProcessStatus,
  type RunOptions,
  type RunResult,
  type SpawnOptions,
} from "./src/sandbox/run_types.ts";
export { kvmUnavailableReason, microVmTest, withMicroVm } from "./src/sandbox/testing.ts";
export {
  AgentClient,
  AgentClosedError,
  AgentCommand,
  AgentRequestError,
} from "./src/agent/client.ts";
export type { AgentChannel, AgentReady, CommandSinks, OutputStream } from "./src/agent/client.ts";
export { AgentProtocolError } from "./src/agent/protocol.ts";
export { type SignalName, SIGNALS } from "./src/agent/signals.ts";
export {
  DEFAULT_CMDLINE,
  exitCodeOf,
  Machine,
  type MachineConfig,
  type MachineExit,
} from "./src/vmm/machine.ts";
export { defaultGuest } from "./guest/paths.ts";
export type { DiskConfig, NetConfig } from "./src/vmm/machine_devices.ts";
export type { PortStream } from "./src/vmm/port_stream.ts";
export { MAX_INIT_ARGS, VIRTIO_CONSOLE_CMDLINE } from "./src/vmm/machine.ts";
export { GuestMemory, GuestMemoryError, type MemoryRegion } from "./src/memory/guest_memory.ts";
export * as layout from "./src/memory/layout.ts";
export {
  CPU_TEMPLATES,
  type CpuTemplate,
  HOST_TEMPLATE,
  MINIMAL_TEMPLATE,
} from "./src/cpu/cpuid.ts";
export { isPvmHost, type PvmQuirksMode } from "./src/cpu/pvm.ts";
export { Kvm, Vcpu, Vm } from "./ffi/kvm.ts";
export { ErrnoError } from "./ffi/errno.ts";
export { setupLogging } from "./src/log.ts";
export type { LogLevel } from "@logtape/logtape";
export type { CpuidMask } from "./src/cpu/cpuid.ts";
export type {
  CpuidEntry,
  KvmRegs,
  KvmSregs,
  MsrEntry,
  UserMemoryRegion,
} from "./ffi/kvm_structs.ts";
export type { Serial } from "./src/devices/legacy/serial.ts";
export type { GuestPaths, Progress } from "./guest/builder.ts";
export type { VcpuExitCounters } from "./src/vmm/vcpu_thread.ts";
export type { BlockDevice } from "./src/virtio/block/device.ts";
export type { NetCounters, NetDevice } from "./src/virtio/net/device.ts";
export type { NetBackend, NetBackendHandlers } from "./src/virtio/net/backend.ts";
export { TapError } from "./src/virtio/net/tap_backend.ts";
export { TapSetup, type TapSetupOptions } from "./src/virtio/net/tap_setup.ts";
export {
  type ApiServer,
  type ApiServerOptions,
  ApiSocketError,
  startApiServer,
} from "./src/api/server.ts";
export { ApiHandler, type ApiHandlerOptions } from "./src/api/api_handler.ts";
export { MachineController, type MachineControllerOptions } from "./src/api/machine_controller.ts";
export { VmConfig } from "./src/api/vm_config.ts";
export type { VmController, VmState } from "./src/api/vm_controller.ts";
export type { DeviceCounters, VmCounters } from "./src/api/metrics.ts";
export type { ApiResponse } from "./src/api/api_handler.ts";
export type {
  BootSource,
  Drive,
  LoggerConfig,
  MachineConfiguration,
  MetricsConfig,
  NetworkInterface,
  RateLimiter,
  TokenBucket,
  VmConfigData,
} from "./src/api/vm_config_types.ts";
export { LOGGER_LEVELS } from "./src/api/vm_config_types.ts";
export type { VirtioDevice } from "./src/virtio/device.ts";
