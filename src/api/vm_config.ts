/**
 * The pre-boot VM description the API builds up, request by request, as Firecracker models it:
 * a boot source, the machine configuration, drives keyed by `drive_id`, network interfaces
 * keyed by `iface_id`, the logger and the metrics sink. Every change is validated whole before
 * it is stored, so a refused request leaves the description as it was.
 *
 * @module
 */

import { reasonOf } from "../cli/host_checks.ts";
import { ApiError } from "./api_error.ts";
import {
  parseBootSource,
  parseDrive,
  parseDrivePatch,
  parseLogger,
  parseMachineConfig,
  parseMetrics,
  parseNetworkInterface,
  parseNetworkInterfacePatch,
} from "./vm_config_parse.ts";
import {
  type BootSource,
  DEFAULT_MACHINE_CONFIGURATION,
  type Drive,
  type LoggerConfig,
  type MachineConfiguration,
  type MetricsConfig,
  type NetworkInterface,
  type VmConfigData,
} from "./vm_config_types.ts";
import { JsonFields } from "./json_fields.ts";

/** Options of {@link VmConfig}. */
export interface VmConfigOptions {
  /**
   * Check that the kernel, initrd and drive files can be opened when they are configured, as
   * Firecracker does (default true; tests of pure validation turn it off).
   */
  checkPaths?: boolean;
}

function checkOpenable(what: string, path: string, write: boolean): void {
  try {
    Deno.openSync(path, { read: true, write }).close();
  } catch (e) {
    throw new ApiError(400, `The ${what} file cannot be opened: ${path}: ${reasonOf(e)}.`);
  }
}

/**
 * The pre-boot configuration.
 *
 * @example
 * ```ts
 * const c = new VmConfig();
 * c.putBootSource({ kernel_image_path: "vmlinux", boot_args: "console=ttyS0 reboot=k panic=1" });
 * c.putDrive("rootfs", { drive_id: "rootfs", path_on_host: "rootfs.ext4", is_root_device: true, is_read_only: false });
 * c.toJSON()["machine-config"]; // { vcpu_count: 1, mem_size_mib: 128, ... }
 * ```
 */
export class VmConfig {
  readonly #checkPaths: boolean;
  #bootSource?: BootSource;
  #machine: MachineConfiguration = { ...DEFAULT_MACHINE_CONFIGURATION };
  readonly #drives = new Map<string, Drive>();
  readonly #ifaces = new Map<string, NetworkInterface>();
  #logger?: LoggerConfig;
  #metrics?: MetricsConfig;

  /** An empty configuration (Firecracker's defaults). @example `new VmConfig({ checkPaths: false })` */
  constructor(options: VmConfigOptions = {}) {
    this.#checkPaths = options.checkPaths ?? true;
  }

  /**
   * Builds a configuration from Firecracker's `--config-file` JSON (the same shape as
   * `GET /vm/config`). Sections denovmm does not have (balloon, vsock, mmds, ...) are refused
   * unless they are null.
   *
   * @example
   * ```ts
   * const c = VmConfig.fromJson(JSON.parse(await Deno.readTextFile("vm.json")));
   * ```
   */
  static fromJson(body: unknown, options: VmConfigOptions = {}): VmConfig {
    const known = [
      "boot-source",
      "machine-config",
      "drives",
      "network-interfaces",
      "logger",
      "metrics",
    ];
    const other = [
      "balloon",
      "cpu-config",
      "memory-hotplug",
      "mmds-config",
      "pmem",
      "vsock",
      "entropy",
      "serial",
    ];
    JsonFields.of(body, [...known, ...other]);
    const o = body as Record<string, unknown>;
    for (const k of other) {
      const v = o[k];
      if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
        throw new ApiError(400, `The "${k}" section is not supported by denovmm.`);
      }
    }
    const c = new VmConfig(options);
    const present = (k: string) => o[k] !== undefined && o[k] !== null;
    // Errors name where in the file they are: "drives[1]: missing field `is_read_only`".
    const at = (where: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        if (e instanceof ApiError) throw new ApiError(e.status, `${where}: ${e.message}`);
        throw e;
      }
    };
    if (present("boot-source")) at("boot-source", () => c.putBootSource(o["boot-source"]));
    if (present("machine-config")) {
      at("machine-config", () => c.putMachineConfig(o["machine-config"]));
    }
    for (const [k, put] of [["drives", "drive_id"], ["network-interfaces", "iface_id"]] as const) {
      if (!present(k)) continue;
      const list = o[k];
      if (!Array.isArray(list)) throw new ApiError(400, `"${k}" must be an array.`);
      list.forEach((item, i) => {
        const id = typeof item === "object" && item !== null
          ? (item as Record<string, unknown>)[put]
          : undefined;
        const pathId = typeof id === "string" ? id : "";
        at(`${k}[${i}]`, () => {
          if (k === "drives") c.putDrive(pathId, item);
          else c.putNetworkInterface(pathId, item);
        });
      });
    }
    if (present("logger")) at("logger", () => c.putLogger(o.logger));
    if (present("metrics")) at("metrics", () => c.putMetrics(o.metrics));
    return c;
  }

  /** `PUT /boot-source`. @example `c.putBootSource({ kernel_image_path: "vmlinux" })` */
  putBootSource(body: unknown): void {
    const b = parseBootSource(body);
    if (this.#checkPaths) {
      checkOpenable("kernel", b.kernel_image_path, false);
      if (b.initrd_path !== undefined) checkOpenable("initrd", b.initrd_path, false);
    }
    this.#bootSource = b;
  }

  /** `PUT /machine-config`. @example `c.putMachineConfig({ vcpu_count: 2, mem_size_mib: 256 })` */
  putMachineConfig(body: unknown): void {
    this.#machine = parseMachineConfig(body);
  }

  /** `PATCH /machine-config`. @example `c.patchMachineConfig({ mem_size_mib: 512 })` */
  patchMachineConfig(body: unknown): void {
    this.#machine = parseMachineConfig(body, this.#machine);
  }

  /**
   * `PUT /drives/{id}`: adds the drive or replaces the one with that id. At most one drive is
   * the root device.
   *
   * @example
   * ```ts
   * c.putDrive("data", { drive_id: "data", path_on_host: "data.img", is_root_device: false, is_read_only: true });
   * ```
   */
  putDrive(pathId: string, body: unknown): void {
    const d = parseDrive(pathId, body);
    if (d.is_root_device) {
      for (const other of this.#drives.values()) {
        if (other.is_root_device && other.drive_id !== d.drive_id) {
          throw new ApiError(400, "A root block device already exists!");
        }
      }
    }
    if (this.#checkPaths) checkOpenable(`drive ${d.drive_id}`, d.path_on_host, !d.is_read_only);
    this.#drives.set(d.drive_id, d);
  }

  /**
   * `PATCH /drives/{id}`: changes the backing file (and the, necessarily unlimited, rate
   * limiter) of an existing drive. Returns the updated drive.
   *
   * @example
   * ```ts
   * c.patchDrive("data", { drive_id: "data", path_on_host: "other.img" });
   * ```
   */
  patchDrive(pathId: string, body: unknown): Drive {
    const p = parseDrivePatch(pathId, body);
    const d = this.#drives.get(p.drive_id);
    if (d === undefined) {
      throw new ApiError(
        400,
        `Unable to patch the block device: there is no drive with id ${p.drive_id}.`,
      );
    }
    const next: Drive = { ...d, ...p };
    if (this.#checkPaths && p.path_on_host !== undefined) {
      checkOpenable(`drive ${d.drive_id}`, next.path_on_host, !next.is_read_only);
    }
    this.#drives.set(d.drive_id, next);
    return structuredClone(next);
  }

  /**
   * `PUT /network-interfaces/{id}`: no two interfaces may share a tap device or a MAC address.
   *
   * @example
   * ```ts
   * c.putNetworkInterface("eth0", { iface_id: "eth0", host_dev_name: "tap0" });
   * ```
   */
  putNetworkInterface(pathId: string, body: unknown): void {
    const n = parseNetworkInterface(pathId, body);
    for (const other of this.#ifaces.values()) {
      if (other.iface_id === n.iface_id) continue;
      if (other.host_dev_name === n.host_dev_name) {
        throw new ApiError(
          400,
          `The host device ${n.host_dev_name} is already used by interface ${other.iface_id}.`,
        );
      }
      if (
        n.guest_mac !== undefined &&
        other.guest_mac?.toLowerCase() === n.guest_mac.toLowerCase()
      ) {
        throw new ApiError(
          400,
          `The MAC address ${n.guest_mac} is already used by interface ${other.iface_id}.`,
        );
      }
    }
    this.#ifaces.set(n.iface_id, n);
  }

  /**
   * `PATCH /network-interfaces/{id}`: updates the rate limiters of an existing interface.
   *
   * @example
   * ```ts
   * c.patchNetworkInterface("eth0", { iface_id: "eth0", rx_rate_limiter: {} });
   * ```
   */
  patchNetworkInterface(pathId: string, body: unknown): void {
    const p = parseNetworkInterfacePatch(pathId, body);
    const n = this.#ifaces.get(p.iface_id);
    if (n === undefined) {
      throw new ApiError(
        400,
        `Unable to patch the network interface: there is no interface with id ${p.iface_id}.`,
      );
    }
    this.#ifaces.set(n.iface_id, { ...n, ...p });
  }

  /** `PUT /logger`. @example `c.putLogger({ level: "Debug" })` */
  putLogger(body: unknown): void {
    this.#logger = parseLogger(body);
  }

  /**
   * `PUT /metrics`: the metrics sink can be set once, as in Firecracker.
   *
   * @example
   * ```ts
   * c.putMetrics({ metrics_path: "metrics.fifo" });
   * ```
   */
  putMetrics(body: unknown): void {
    const m = parseMetrics(body);
    if (this.#metrics !== undefined) {
      throw new ApiError(400, "Reinitialization of metrics not allowed.");
    }
    this.#metrics = m;
  }

  /** True when a drive with this id is configured. @example `c.hasDrive("rootfs")` */
  hasDrive(id: string): boolean {
    return this.#drives.has(id);
  }

  /** The machine configuration (a copy). @example `c.machineConfig.vcpu_count` */
  get machineConfig(): MachineConfiguration {
    return { ...this.#machine };
  }

  /** The metrics sink, when one is configured. @example `c.metrics?.metrics_path` */
  get metrics(): MetricsConfig | undefined {
    return this.#metrics ? { ...this.#metrics } : undefined;
  }

  /**
   * A deep copy of everything configured, for InstanceStart.
   *
   * @example
   * ```ts
   * await controller.start(c.snapshot());
   * ```
   */
  snapshot(): VmConfigData {
    return structuredClone({
      ...(this.#bootSource ? { bootSource: this.#bootSource } : {}),
      machineConfig: this.#machine,
      drives: [...this.#drives.values()],
      networkInterfaces: [...this.#ifaces.values()],
      ...(this.#logger ? { logger: this.#logger } : {}),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
    });
  }

  /**
   * The configuration in Firecracker's FullVmConfiguration shape (`GET /vm/config`); sections
   * that are not configured are null, as Firecracker prints them.
   *
   * @example
   * ```ts
   * JSON.stringify(c.toJSON());
   * ```
   */
  toJSON(): Record<string, unknown> {
    const s = this.snapshot();
    const { huge_pages: _h, cpu_template, ...machine } = s.machineConfig;
    return {
      "balloon": null,
      "drives": s.drives,
      "boot-source": s.bootSource ?? null,
      "cpu-config": null,
      "logger": s.logger ?? null,
      "machine-config": {
        ...machine,
        // Firecracker leaves cpu_template out when it is None.
        ...(cpu_template !== "None" ? { cpu_template } : {}),
        huge_pages: "None",
      },
      "metrics": s.metrics ?? null,
      "mmds-config": null,
      "network-interfaces": s.networkInterfaces,
      "vsock": null,
      "entropy": null,
    };
  }
}
