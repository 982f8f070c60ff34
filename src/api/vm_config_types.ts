/**
 * The pre-boot VM description in Firecracker's JSON shape (field names as in its
 * `firecracker.yaml`: BootSource, MachineConfiguration, Drive, NetworkInterface, Logger,
 * Metrics, RateLimiter/TokenBucket).
 *
 * @module
 */

/** `PUT /boot-source`. */
export interface BootSource {
  kernel_image_path: string;
  /** Kernel command line; denovmm's DEFAULT_CMDLINE when absent (see vm_to_machine.ts). */
  boot_args?: string;
  initrd_path?: string;
}

/** Firecracker's static CPU template names, which denovmm does not implement. */
export const FIRECRACKER_CPU_TEMPLATES = ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1"] as const;

/** `PUT /machine-config`, with every default filled in. */
export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt: boolean;
  track_dirty_pages: boolean;
  /** "None" (Firecracker's default) or a denovmm template name ("host", "minimal"). */
  cpu_template: string;
  huge_pages: "None";
}

/** Firecracker's defaults: 1 vCPU, 128 MiB, no SMT, no dirty-page tracking, no template. */
export const DEFAULT_MACHINE_CONFIGURATION: Readonly<MachineConfiguration> = Object.freeze({
  vcpu_count: 1,
  mem_size_mib: 128,
  smt: false,
  track_dirty_pages: false,
  cpu_template: "None",
  huge_pages: "None",
});

/** One token bucket of a rate limiter. */
export interface TokenBucket {
  size: number;
  refill_time: number;
  one_time_burst?: number;
}

/** An I/O rate limiter (bytes and operations). */
export interface RateLimiter {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

/** `PUT /drives/{drive_id}`, with defaults filled in. */
export interface Drive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
  partuuid?: string;
  cache_type: "Unsafe" | "Writeback";
  io_engine: "Sync" | "Async";
  rate_limiter?: RateLimiter;
}

/** `PATCH /drives/{drive_id}`. */
export interface PartialDrive {
  drive_id: string;
  path_on_host?: string;
  rate_limiter?: RateLimiter;
}

/** `PUT /network-interfaces/{iface_id}`. */
export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
  mtu?: number;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

/** `PATCH /network-interfaces/{iface_id}`. */
export interface PartialNetworkInterface {
  iface_id: string;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

/** Firecracker's log levels (matched case-insensitively, stored as written here). */
export const LOGGER_LEVELS = ["Error", "Warning", "Info", "Debug", "Trace", "Off"] as const;

/** `PUT /logger`. */
export interface LoggerConfig {
  level?: typeof LOGGER_LEVELS[number];
  log_path?: string;
  show_level?: boolean;
  show_log_origin?: boolean;
  module?: string;
}

/** `PUT /metrics`. */
export interface MetricsConfig {
  metrics_path: string;
  /** Operator key-value pairs copied into every metrics line (Firecracker's `properties`). */
  properties?: Record<string, string>;
}

/** Everything configured so far: what InstanceStart boots and what `GET /vm/config` shows. */
export interface VmConfigData {
  bootSource?: BootSource;
  machineConfig: MachineConfiguration;
  /** In the order they were first added. */
  drives: Drive[];
  networkInterfaces: NetworkInterface[];
  logger?: LoggerConfig;
  metrics?: MetricsConfig;
}
