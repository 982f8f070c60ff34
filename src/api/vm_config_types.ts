/**
 * The pre-boot VM description in Firecracker's JSON shape (field names as in its
 * `firecracker.yaml`: BootSource, MachineConfiguration, Drive, NetworkInterface, Logger,
 * Metrics, RateLimiter/TokenBucket).
 *
 * @module
 */

/** `PUT /boot-source`. */
export interface BootSource {
  /** Host path of the kernel image (ELF vmlinux or bzImage). */
  kernel_image_path: string;
  /** Kernel command line; denovmm's DEFAULT_CMDLINE when absent (see vm_to_machine.ts). */
  boot_args?: string;
  /** Host path of an initramfs. */
  initrd_path?: string;
}

/** Firecracker's static CPU template names, which denovmm does not implement. */
export const FIRECRACKER_CPU_TEMPLATES = ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1"] as const;

/** `PUT /machine-config`, with every default filled in. */
export interface MachineConfiguration {
  /** Number of vCPUs, 1 to 32 (1 or even with SMT). */
  vcpu_count: number;
  /** Guest RAM in MiB. */
  mem_size_mib: number;
  /** Simultaneous multithreading (two threads per core). */
  smt: boolean;
  /** Dirty page tracking (accepted; denovmm has no snapshots to use it). */
  track_dirty_pages: boolean;
  /** "None" (Firecracker's default) or a denovmm template name ("host", "minimal"). */
  cpu_template: string;
  /** Huge page backing: only "None". */
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
  /** Tokens the bucket holds. */
  size: number;
  /** Milliseconds to refill the whole bucket. */
  refill_time: number;
  /** Extra tokens available once, at the start. */
  one_time_burst?: number;
}

/** An I/O rate limiter (bytes and operations). */
export interface RateLimiter {
  /** A bucket of bytes. */
  bandwidth?: TokenBucket;
  /** A bucket of operations. */
  ops?: TokenBucket;
}

/** `PUT /drives/{drive_id}`, with defaults filled in. */
export interface Drive {
  /** The drive's id (letters, digits, `_`), as in the path. */
  drive_id: string;
  /** Host path of the raw image. */
  path_on_host: string;
  /** Boot from this drive (adds `root=` to the command line). */
  is_root_device: boolean;
  /** Refuse guest writes and open the image read-only. */
  is_read_only: boolean;
  /** With is_root_device: boot from this partition UUID. */
  partuuid?: string;
  /** Firecracker's cache mode (denovmm always flushes on the guest's FLUSH). */
  cache_type: "Unsafe" | "Writeback";
  /** Firecracker's I/O engine choice (denovmm has one engine). */
  io_engine: "Sync" | "Async";
  /** Must limit nothing (see parseRateLimiter). */
  rate_limiter?: RateLimiter;
}

/** `PATCH /drives/{drive_id}`. */
export interface PartialDrive {
  /** The drive's id (letters, digits, `_`), as in the path. */
  drive_id: string;
  /** Host path of the raw image. */
  path_on_host?: string;
  /** Must limit nothing (see parseRateLimiter). */
  rate_limiter?: RateLimiter;
}

/** `PUT /network-interfaces/{iface_id}`. */
export interface NetworkInterface {
  /** The interface's id, as in the path. */
  iface_id: string;
  /** The host tap device. */
  host_dev_name: string;
  /** The guest's MAC address. */
  guest_mac?: string;
  /** MTU to advertise to the guest. */
  mtu?: number;
  /** Receive limiter (must limit nothing). */
  rx_rate_limiter?: RateLimiter;
  /** Transmit limiter (must limit nothing). */
  tx_rate_limiter?: RateLimiter;
}

/** `PATCH /network-interfaces/{iface_id}`. */
export interface PartialNetworkInterface {
  /** The interface's id, as in the path. */
  iface_id: string;
  /** Receive limiter (must limit nothing). */
  rx_rate_limiter?: RateLimiter;
  /** Transmit limiter (must limit nothing). */
  tx_rate_limiter?: RateLimiter;
}

/** Firecracker's log levels (matched case-insensitively, stored as written here). */
export const LOGGER_LEVELS = ["Error", "Warning", "Info", "Debug", "Trace", "Off"] as const;

/** `PUT /logger`. */
export interface LoggerConfig {
  /** Lowest level written (Firecracker's names). */
  level?: typeof LOGGER_LEVELS[number];
  /** File or named pipe for the log lines. */
  log_path?: string;
  /** Put the level in each line. */
  show_level?: boolean;
  /** Put the origin (logger category) in each line. */
  show_log_origin?: boolean;
  /** Only records of this logger category and below. */
  module?: string;
}

/** `PUT /metrics`. */
export interface MetricsConfig {
  /** File or named pipe for the metrics lines. */
  metrics_path: string;
  /** Operator key-value pairs copied into every metrics line (Firecracker's `properties`). */
  properties?: Record<string, string>;
}

/** Everything configured so far: what InstanceStart boots and what `GET /vm/config` shows. */
export interface VmConfigData {
  /** `PUT /boot-source`, once given. */
  bootSource?: BootSource;
  /** `PUT /machine-config` (Firecracker's defaults until then). */
  machineConfig: MachineConfiguration;
  /** In the order they were first added. */
  drives: Drive[];
  /** In the order they were first added. */
  networkInterfaces: NetworkInterface[];
  /** `PUT /logger`, once given. */
  logger?: LoggerConfig;
  /** `PUT /metrics`, once given. */
  metrics?: MetricsConfig;
}
