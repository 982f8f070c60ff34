/**
 * Parsers for the pre-boot request bodies: each takes the decoded JSON (and the id from the
 * path) and returns a typed value with defaults filled in, or throws an {@link ApiError} 400
 * that says which field is wrong and why.
 *
 * @module
 */

import { Cmdline } from "../boot/cmdline.ts";
import { CPU_TEMPLATES } from "../cpu/cpuid.ts";
import { ApiError, bodyError } from "./api_error.ts";
import { JsonFields } from "./json_fields.ts";
import {
  type BootSource,
  type Drive,
  FIRECRACKER_CPU_TEMPLATES,
  LOGGER_LEVELS,
  type LoggerConfig,
  type MachineConfiguration,
  type MetricsConfig,
  type NetworkInterface,
  type PartialDrive,
  type PartialNetworkInterface,
  type RateLimiter,
  type TokenBucket,
} from "./vm_config_types.ts";

/** Firecracker's vCPU limit. */
export const MAX_VCPUS = 32;
/** The most guest RAM the API accepts, in MiB (the CLI's `--mem` limit). */
export const MAX_MEM_MIB = 2 ** 24;
/** Linux's IFNAMSIZ less the NUL: the longest tap device name. */
const MAX_IFNAME = 15;
const U64_MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Checks a resource id from a path as Firecracker does: not empty, only letters, digits and `_`.
 *
 * @example
 * ```ts
 * checkedId("rootfs"); // "rootfs"
 * ```
 */
export function checkedId(id: string): string {
  if (id.length === 0) throw new ApiError(400, "The ID cannot be empty.");
  if (!/^[\p{L}\p{N}_]+$/u.test(id)) {
    throw new ApiError(
      400,
      "API Resource IDs can only contain alphanumeric characters and underscores.",
    );
  }
  return id;
}

function sameId(pathId: string, bodyId: string): void {
  if (pathId !== bodyId) {
    throw new ApiError(400, "The id from the path does not match the id from the body!");
  }
}

/**
 * Parses a `PUT /boot-source` body.
 *
 * @example
 * ```ts
 * parseBootSource({ kernel_image_path: "./vmlinux", boot_args: "console=ttyS0 reboot=k" });
 * ```
 */
export function parseBootSource(body: unknown): BootSource {
  const o = JsonFields.of(body, ["kernel_image_path", "boot_args", "initrd_path"]);
  const kernel = o.string("kernel_image_path", { required: true });
  if (kernel.length === 0) throw new ApiError(400, "The kernel image path is empty.");
  const bootArgs = o.string("boot_args");
  const initrd = o.string("initrd_path");
  if (bootArgs !== undefined) {
    try {
      Cmdline.parse(bootArgs);
    } catch (e) {
      throw new ApiError(400, `Invalid boot_args: ${(e as Error).message}`);
    }
  }
  return {
    kernel_image_path: kernel,
    ...(bootArgs !== undefined ? { boot_args: bootArgs } : {}),
    ...(initrd !== undefined ? { initrd_path: initrd } : {}),
  };
}

const MACHINE_FIELDS = [
  "vcpu_count",
  "mem_size_mib",
  "smt",
  "track_dirty_pages",
  "cpu_template",
  "huge_pages",
] as const;

function checkCpuTemplate(name: string): string {
  if (name === "None" || Object.hasOwn(CPU_TEMPLATES, name)) return name;
  if ((FIRECRACKER_CPU_TEMPLATES as readonly string[]).includes(name)) {
    throw new ApiError(
      400,
      `CPU template ${name} is not supported by denovmm: use "None" (the host's CPU features) ` +
        `or one of denovmm's templates (${Object.keys(CPU_TEMPLATES).join(", ")}).`,
    );
  }
  const known = ["None", ...Object.keys(CPU_TEMPLATES), ...FIRECRACKER_CPU_TEMPLATES];
  throw bodyError(
    `unknown variant \`${name.slice(0, 64)}\` for \`cpu_template\`, expected one of ${
      known.map((k) => `\`${k}\``).join(", ")
    }`,
  );
}

/**
 * Parses a `PUT /machine-config` body (`base` absent: required fields, defaults for the rest)
 * or a `PATCH` body (`base` given: every field optional, merged onto `base`). Either way the
 * result is checked as a whole, so a patch cannot leave an invalid combination.
 *
 * @example
 * ```ts
 * const m = parseMachineConfig({ vcpu_count: 2, mem_size_mib: 256 });
 * const p = parseMachineConfig({ mem_size_mib: 512 }, m);
 * ```
 */
export function parseMachineConfig(
  body: unknown,
  base?: MachineConfiguration,
): MachineConfiguration {
  const o = JsonFields.of(body, MACHINE_FIELDS);
  const required = base === undefined;
  // Type errors first (serde's range for u8/usize), then Firecracker's semantic checks.
  const vcpus = o.integer("vcpu_count", { required, min: 0, max: 255 });
  const mem = o.integer("mem_size_mib", { required, min: 0, max: U64_MAX_SAFE });
  const smt = o.boolean("smt");
  const dirty = o.boolean("track_dirty_pages");
  const template = o.string("cpu_template");
  const huge = o.string("huge_pages");
  if (huge !== undefined && huge !== "None") {
    if (huge === "Transparent" || huge === "2M") {
      throw new ApiError(400, `huge_pages ${huge} is not supported by denovmm yet; use "None".`);
    }
    throw bodyError(
      `unknown variant \`${
        huge.slice(0, 64)
      }\` for \`huge_pages\`, expected one of \`None\`, \`Transparent\`, \`2M\``,
    );
  }
  const m: MachineConfiguration = {
    vcpu_count: vcpus ?? base?.vcpu_count ?? 1,
    mem_size_mib: mem ?? base?.mem_size_mib ?? 128,
    // PUT resets the optional fields to their defaults, as Firecracker documents.
    smt: smt ?? (required ? false : base.smt),
    track_dirty_pages: dirty ?? (required ? false : base.track_dirty_pages),
    cpu_template: template !== undefined
      ? checkCpuTemplate(template)
      : (required ? "None" : base.cpu_template),
    huge_pages: "None",
  };
  if (
    m.vcpu_count < 1 || m.vcpu_count > MAX_VCPUS ||
    (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2 !== 0)
  ) {
    throw new ApiError(
      400,
      `The number of vCPUs must be greater than 0, less than ${MAX_VCPUS} and must be 1 or an even number if SMT is enabled.`,
    );
  }
  if (m.mem_size_mib < 1) {
    throw new ApiError(
      400,
      "The memory size (MiB) is either 0, or not a multiple of the configured page size.",
    );
  }
  if (m.mem_size_mib > MAX_MEM_MIB) {
    throw new ApiError(400, `The memory size (MiB) is above denovmm's limit of ${MAX_MEM_MIB}.`);
  }
  return m;
}

function parseBucket(o: JsonFields | undefined): TokenBucket | undefined {
  if (o === undefined) return undefined;
  const size = o.integer("size", { required: true, min: 0, max: U64_MAX_SAFE });
  const refill = o.integer("refill_time", { required: true, min: 0, max: U64_MAX_SAFE });
  const burst = o.integer("one_time_burst", { min: 0, max: U64_MAX_SAFE });
  return { size, refill_time: refill, ...(burst !== undefined ? { one_time_burst: burst } : {}) };
}

const BUCKET_FIELDS = ["size", "refill_time", "one_time_burst"];

/**
 * Parses an optional RateLimiter field. denovmm does not limit I/O yet, so a limiter that
 * would limit (a bucket with a non-zero size and refill time) is refused rather than ignored;
 * an empty or all-zero limiter (Firecracker's "unlimited") is accepted.
 */
function parseRateLimiter(o: JsonFields, field: string): RateLimiter | undefined {
  const rl = o.object(field, ["bandwidth", "ops"]);
  if (rl === undefined) return undefined;
  const bandwidth = parseBucket(rl.object("bandwidth", BUCKET_FIELDS));
  const ops = parseBucket(rl.object("ops", BUCKET_FIELDS));
  for (const b of [bandwidth, ops]) {
    if (b !== undefined && b.size > 0 && b.refill_time > 0) {
      throw new ApiError(
        400,
        `Rate limiters are not implemented in denovmm yet: remove \`${field}\` or set its buckets' size to 0.`,
      );
    }
  }
  return { ...(bandwidth ? { bandwidth } : {}), ...(ops ? { ops } : {}) };
}

/**
 * Parses a `PUT /drives/{id}` body; `pathId` is the id from the path.
 *
 * @example
 * ```ts
 * parseDrive("rootfs", { drive_id: "rootfs", path_on_host: "rootfs.ext4", is_root_device: true, is_read_only: false });
 * ```
 */
export function parseDrive(pathId: string, body: unknown): Drive {
  checkedId(pathId);
  const o = JsonFields.of(body, [
    "drive_id",
    "path_on_host",
    "is_root_device",
    "is_read_only",
    "partuuid",
    "cache_type",
    "io_engine",
    "rate_limiter",
    "socket",
  ]);
  const id = o.string("drive_id", { required: true });
  if (o.string("socket") !== undefined) {
    throw new ApiError(400, "vhost-user-block drives (`socket`) are not supported by denovmm.");
  }
  const path = o.string("path_on_host", { required: true });
  const root = o.boolean("is_root_device", { required: true });
  const readOnly = o.boolean("is_read_only", { required: true });
  const partuuid = o.string("partuuid");
  const cache = o.oneOf("cache_type", ["Unsafe", "Writeback"] as const);
  const engine = o.oneOf("io_engine", ["Sync", "Async"] as const);
  const rl = parseRateLimiter(o, "rate_limiter");
  sameId(pathId, id);
  if (path.length === 0) throw new ApiError(400, `Drive ${id}: path_on_host is empty.`);
  return {
    drive_id: id,
    path_on_host: path,
    is_root_device: root,
    is_read_only: readOnly,
    ...(partuuid !== undefined ? { partuuid } : {}),
    cache_type: cache ?? "Unsafe",
    io_engine: engine ?? "Sync",
    ...(rl !== undefined ? { rate_limiter: rl } : {}),
  };
}

/**
 * Parses a `PATCH /drives/{id}` body (Firecracker's PartialDrive).
 *
 * @example
 * ```ts
 * parseDrivePatch("rootfs", { drive_id: "rootfs", path_on_host: "new.ext4" });
 * ```
 */
export function parseDrivePatch(pathId: string, body: unknown): PartialDrive {
  checkedId(pathId);
  const o = JsonFields.of(body, ["drive_id", "path_on_host", "rate_limiter"]);
  const id = o.string("drive_id", { required: true });
  const path = o.string("path_on_host");
  const rl = parseRateLimiter(o, "rate_limiter");
  sameId(pathId, id);
  if (path !== undefined && path.length === 0) {
    throw new ApiError(400, `Drive ${id}: path_on_host is empty.`);
  }
  return {
    drive_id: id,
    ...(path !== undefined ? { path_on_host: path } : {}),
    ...(rl !== undefined ? { rate_limiter: rl } : {}),
  };
}

/**
 * Parses a `PUT /network-interfaces/{id}` body.
 *
 * @example
 * ```ts
 * parseNetworkInterface("eth0", { iface_id: "eth0", host_dev_name: "tap0", guest_mac: "06:00:AC:10:00:02" });
 * ```
 */
export function parseNetworkInterface(pathId: string, body: unknown): NetworkInterface {
  checkedId(pathId);
  const o = JsonFields.of(body, [
    "iface_id",
    "host_dev_name",
    "guest_mac",
    "mtu",
    "rx_rate_limiter",
    "tx_rate_limiter",
  ]);
  const id = o.string("iface_id", { required: true });
  const dev = o.string("host_dev_name", { required: true });
  const mac = o.string("guest_mac");
  const mtu = o.integer("mtu", { min: 68, max: 65535 });
  const rx = parseRateLimiter(o, "rx_rate_limiter");
  const tx = parseRateLimiter(o, "tx_rate_limiter");
  sameId(pathId, id);
  if (dev.length === 0 || dev.length > MAX_IFNAME || /[\s/\0]/.test(dev)) {
    throw new ApiError(
      400,
      `Interface ${id}: host_dev_name must be 1 to ${MAX_IFNAME} characters without spaces or "/".`,
    );
  }
  if (mac !== undefined && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw bodyError(
      `invalid value for \`guest_mac\`: ${
        JSON.stringify(mac.slice(0, 40))
      }, expected a MAC address like 06:00:AC:10:00:02`,
    );
  }
  return {
    iface_id: id,
    host_dev_name: dev,
    ...(mac !== undefined ? { guest_mac: mac } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(rx !== undefined ? { rx_rate_limiter: rx } : {}),
    ...(tx !== undefined ? { tx_rate_limiter: tx } : {}),
  };
}

/**
 * Parses a `PATCH /network-interfaces/{id}` body (Firecracker's PartialNetworkInterface).
 *
 * @example
 * ```ts
 * parseNetworkInterfacePatch("eth0", { iface_id: "eth0" });
 * ```
 */
export function parseNetworkInterfacePatch(
  pathId: string,
  body: unknown,
): PartialNetworkInterface {
  checkedId(pathId);
  const o = JsonFields.of(body, ["iface_id", "rx_rate_limiter", "tx_rate_limiter"]);
  const id = o.string("iface_id", { required: true });
  const rx = parseRateLimiter(o, "rx_rate_limiter");
  const tx = parseRateLimiter(o, "tx_rate_limiter");
  sameId(pathId, id);
  return {
    iface_id: id,
    ...(rx !== undefined ? { rx_rate_limiter: rx } : {}),
    ...(tx !== undefined ? { tx_rate_limiter: tx } : {}),
  };
}

/**
 * Parses a `PUT /logger` body; the level is matched case-insensitively, as Firecracker does.
 *
 * @example
 * ```ts
 * parseLogger({ log_path: "fc.log", level: "debug" }); // level: "Debug"
 * ```
 */
export function parseLogger(body: unknown): LoggerConfig {
  const o = JsonFields.of(body, ["level", "log_path", "show_level", "show_log_origin", "module"]);
  const raw = o.string("level");
  let level: LoggerConfig["level"];
  if (raw !== undefined) {
    level = LOGGER_LEVELS.find((l) => l.toLowerCase() === raw.toLowerCase());
    if (level === undefined) {
      throw bodyError(
        `unknown variant \`${raw.slice(0, 64)}\` for \`level\`, expected one of ${
          LOGGER_LEVELS.map((l) => `\`${l}\``).join(", ")
        }`,
      );
    }
  }
  const path = o.string("log_path");
  const showLevel = o.boolean("show_level");
  const showOrigin = o.boolean("show_log_origin");
  const module = o.string("module");
  return {
    ...(level !== undefined ? { level } : {}),
    ...(path !== undefined ? { log_path: path } : {}),
    ...(showLevel !== undefined ? { show_level: showLevel } : {}),
    ...(showOrigin !== undefined ? { show_log_origin: showOrigin } : {}),
    ...(module !== undefined ? { module } : {}),
  };
}

/**
 * Parses a `PUT /metrics` body.
 *
 * @example
 * ```ts
 * parseMetrics({ metrics_path: "metrics.json" });
 * ```
 */
export function parseMetrics(body: unknown): MetricsConfig {
  const o = JsonFields.of(body, ["metrics_path", "properties"]);
  const path = o.string("metrics_path", { required: true });
  if (path.length === 0) throw new ApiError(400, "The metrics path is empty.");
  const props = o.object("properties", [], { anyField: true });
  let properties: Record<string, string> | undefined;
  if (props !== undefined) {
    properties = {};
    for (const k of props.keys()) properties[k] = props.string(k, { required: true });
  }
  return { metrics_path: path, ...(properties !== undefined ? { properties } : {}) };
}
