/**
 * Metrics records in Firecracker's shape: one JSON object per line, a `utc_timestamp_ms` and one
 * object per component, whose counters hold what happened since the previous line (Firecracker's
 * `SharedIncMetric` semantics: sum the lines for totals).
 *
 * Components:
 * - `vcpu`: every vCPU's exits summed (`exit_io_in`, `exit_io_out`, `exit_mmio_read`,
 *   `exit_mmio_write` as Firecracker names them, plus `exit_unhandled`); `vcpu_<n>` per vCPU.
 * - `block`, `net`, ...: any device that exposes `counters` is included, summed per kind and one
 *   object per device as `<kind>_<id>` (`block_rootfs` for `/drives/rootfs`, `net_eth0` for
 *   `/network-interfaces/eth0`). Counter names become snake_case, with Firecracker's names where
 *   the meaning is the same (see {@link FIRECRACKER_NAMES}).
 * - `get_api_requests`, `put_api_requests`, `patch_api_requests`: `<resource>_count` and
 *   `<resource>_fails` per endpoint, as Firecracker counts them; `api_server` the totals.
 * - `logger`: `missed_metrics_count` (lines a full FIFO refused).
 * - `properties`: the operator's key-value pairs from `PUT /metrics`, when given.
 *
 * @module
 */

/** One device's counters, as a controller reports them. */
export interface DeviceCounters {
  /** Firecracker's component name: "block", "net", "entropy", "console", ... */
  kind: string;
  /** The API id ("rootfs", "eth0"), or the device name when it has none. */
  id: string;
  /** Cumulative counters, camelCase or snake_case. */
  counters: Readonly<Record<string, number>>;
}

/** The counters of a running VM. */
export interface VmCounters {
  /** Cumulative exit counters per vCPU, by vCPU index. */
  vcpus: readonly Readonly<Record<string, number>>[];
  /** Every device that exposes counters. */
  devices: readonly DeviceCounters[];
}

/**
 * Counter renames to Firecracker's names, per component, where the meaning matches. Other
 * counters keep their own name in snake_case.
 *
 * @example
 * ```ts
 * FIRECRACKER_NAMES.block.readBytes; // "read_bytes"
 * ```
 */
export const FIRECRACKER_NAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  vcpu: {
    pioIn: "exit_io_in",
    pioOut: "exit_io_out",
    mmioRead: "exit_mmio_read",
    mmioWrite: "exit_mmio_write",
    unhandled: "exit_unhandled",
  },
  block: {
    reads: "read_count",
    writes: "write_count",
    flushes: "flush_count",
    readBytes: "read_bytes",
    writeBytes: "write_bytes",
  },
  net: {
    rxBytes: "rx_bytes_count",
    txBytes: "tx_bytes_count",
    rxFrames: "rx_packets_count",
    txFrames: "tx_packets_count",
  },
};

/** Counters every line carries for a component even when nothing of that kind exists. */
const ALWAYS: Readonly<Record<string, readonly string[]>> = {
  vcpu: Object.values(FIRECRACKER_NAMES.vcpu),
  block: [...Object.values(FIRECRACKER_NAMES.block), "errors"],
  net: [...new Set(Object.values(FIRECRACKER_NAMES.net)), "errors"],
};

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/[^a-z0-9_]/g, "_");
}

function fcName(kind: string, counter: string): string {
  return FIRECRACKER_NAMES[kind]?.[counter] ?? snake(counter);
}

/** Per-endpoint API request counters (cumulative). */
export class ApiRequestCounters {
  readonly #counts = new Map<string, number>();
  #requests = 0;
  #faults = 0;

  /**
   * Counts one request: `method` ("GET", "PUT", "PATCH"), `resource` (Firecracker's name,
   * e.g. "machine_cfg") or undefined for an unknown path, and whether it failed.
   *
   * @example
   * ```ts
   * api.count("PUT", "drive", false);
   * ```
   */
  count(method: string, resource: string | undefined, failed: boolean): void {
    this.#requests++;
    if (failed) this.#faults++;
    if (resource === undefined) return;
    const section = `${method.toLowerCase()}_api_requests`;
    const k = `${section}\u0000${resource}_${failed ? "fails" : "count"}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
    // Firecracker counts a failed request in both `_count` and `_fails`.
    if (failed) {
      const all = `${section}\u0000${resource}_count`;
      this.#counts.set(all, (this.#counts.get(all) ?? 0) + 1);
    }
  }

  /** Cumulative values as `section -> counter -> value`. @example `api.sections()` */
  sections(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {
      api_server: { request_count: this.#requests, fault_count: this.#faults },
      get_api_requests: {},
      put_api_requests: {},
      patch_api_requests: {},
    };
    for (const [k, v] of this.#counts) {
      const [section, name] = k.split("\u0000");
      (out[section] ??= {})[name] = v;
    }
    return out;
  }
}

/**
 * Turns cumulative counters into Firecracker metrics lines of deltas.
 *
 * @example
 * ```ts
 * const rec = new MetricsRecorder();
 * sink.writeLine(JSON.stringify(rec.record({ vm: controller.counters(), api: apiCounters })));
 * ```
 */
export class MetricsRecorder {
  readonly #last = new Map<string, number>();
  readonly #properties?: Readonly<Record<string, string>>;

  /** @example `new MetricsRecorder({ properties: { customer_id: "1234" } })` */
  constructor(o: { properties?: Readonly<Record<string, string>> } = {}) {
    this.#properties = o.properties;
  }

  /**
   * One metrics record: every counter's change since the previous call.
   *
   * @example
   * ```ts
   * rec.record({ vm: { vcpus: [{ pioIn: 3 }], devices: [] } }).vcpu; // { exit_io_in: 3, ... }
   * ```
   */
  record(
    src: { vm?: VmCounters; api?: ApiRequestCounters; missedMetrics?: number },
    now: number = Date.now(),
  ): Record<string, unknown> {
    const total: Record<string, Record<string, number>> = {};
    const add = (section: string, name: string, v: number) => {
      const s = (total[section] ??= {});
      s[name] = (s[name] ?? 0) + v;
    };
    for (const kind of Object.keys(ALWAYS)) {
      for (const name of ALWAYS[kind]) add(kind, name, 0);
    }
    src.vm?.vcpus.forEach((c, i) => {
      for (const [k, v] of Object.entries(c)) {
        add("vcpu", fcName("vcpu", k), v);
        add(`vcpu_${i}`, fcName("vcpu", k), v);
      }
    });
    for (const d of src.vm?.devices ?? []) {
      for (const [k, v] of Object.entries(d.counters)) {
        if (typeof v !== "number") continue;
        add(d.kind, fcName(d.kind, k), v);
        add(`${d.kind}_${d.id}`, fcName(d.kind, k), v);
      }
    }
    for (const [section, counters] of Object.entries(src.api?.sections() ?? {})) {
      total[section] ??= {};
      for (const [k, v] of Object.entries(counters)) add(section, k, v);
    }
    add("logger", "missed_metrics_count", src.missedMetrics ?? 0);

    const line: Record<string, unknown> = { utc_timestamp_ms: now };
    if (this.#properties !== undefined) line.properties = { ...this.#properties };
    for (const section of Object.keys(total).sort()) {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(total[section])) {
        const key = `${section}.${k}`;
        out[k] = v - (this.#last.get(key) ?? 0);
        this.#last.set(key, v);
      }
      line[section] = out;
    }
    return line;
  }
}
