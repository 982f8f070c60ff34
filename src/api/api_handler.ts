/**
 * The API's routes and rules, apart from HTTP transport: a request is a method, a path and a
 * body text; the answer is a status and an optional JSON body. Requests are handled one at a
 * time, in arrival order, as Firecracker's API thread does, so an InstanceStart in progress and
 * a drive change never interleave.
 *
 * The handler also owns what Firecracker keeps beside the VM: the log file of `PUT /logger`,
 * the metrics file of `PUT /metrics` with its 60-second flush (started by InstanceStart) and
 * the per-endpoint request counters. {@link ApiHandler.close} writes a last metrics line and
 * closes both files.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { reasonOf } from "../cli/host_checks.ts";
import { logger, setExtraLogSink } from "../log.ts";
import { ApiError, bodyError, notAfterStart, notBeforeStart } from "./api_error.ts";
import { parseAction, parseVmState } from "./api_bodies.ts";
import { apiLogSink } from "./api_logger.ts";
import { LineSink } from "./line_sink.ts";
import { ApiRequestCounters, MetricsRecorder } from "./metrics.ts";
import { parseDrivePatch, parseLogger, parseMetrics } from "./vm_config_parse.ts";
import { VmConfig } from "./vm_config.ts";
import type { VmController } from "./vm_controller.ts";
import { toMachineFields } from "./vm_to_machine.ts";

const log = logger("api");

/** denovmm's version, reported as `vmm_version` and `firecracker_version`. */
export const VMM_VERSION: string = denoJson.version;

/** Firecracker's instance id when none is given. */
export const DEFAULT_INSTANCE_ID = "anonymous-instance";

/** Firecracker flushes metrics on its own every 60 seconds. */
export const METRICS_PERIOD_MS = 60_000;

/** The resource names Firecracker's request counters use, by route. */
const RESOURCE: Readonly<Record<string, string>> = {
  "/": "instance_info",
  "version": "vmm_version",
  "machine-config": "machine_cfg",
  "vm/config": "vm_config",
  "boot-source": "boot_source",
  "drives": "drive",
  "network-interfaces": "network",
  "logger": "logger",
  "metrics": "metrics",
  "actions": "actions",
  "vm": "vm",
};

function opened(what: string, path: string): LineSink {
  try {
    return LineSink.open(path);
  } catch (e) {
    const code = (e as { code?: number }).code;
    const reason = code === 2
      ? "no such directory"
      : code === 13
      ? "permission denied"
      : reasonOf(e);
    throw new ApiError(400, `Cannot open the ${what} file ${path}: ${reason}.`);
  }
}

/** An answer: 204 without a body, or a status with a JSON body. */
export interface ApiResponse {
  /** HTTP status. */
  status: number;
  /** Sent as JSON when present. */
  body?: unknown;
  /** Extra response headers (`Allow`). */
  headers?: Record<string, string>;
}

/** Options of {@link ApiHandler}. */
export interface ApiHandlerOptions {
  /** The VM the API drives. */
  controller: VmController;
  /** The configuration to build on (default: an empty one). */
  config?: VmConfig;
  /** Reported by `GET /` (default "anonymous-instance", like Firecracker). */
  instanceId?: string;
  /** The automatic metrics flush period (default {@link METRICS_PERIOD_MS}). */
  metricsPeriodMs?: number;
}

type Method = "GET" | "PUT" | "PATCH";
type RouteFn = (id: string, body: unknown) => Promise<ApiResponse | void> | ApiResponse | void;

interface Route {
  methods: Partial<Record<Method, RouteFn>>;
}

/** Firecracker answers an unknown path and a method a path does not take alike: 400. */
function invalidPath(method: string, path: string): ApiError {
  return new ApiError(
    400,
    `Invalid request method and/or path: ${method.slice(0, 16)} ${path.slice(0, 128)}.`,
  );
}

function faultOf(e: ApiError): ApiResponse {
  return { status: e.status, body: { fault_message: e.message } };
}

/**
 * Handles API requests against a {@link VmConfig} and a {@link VmController}.
 *
 * @example
 * ```ts
 * const h = new ApiHandler({ controller });
 * await h.handle("PUT", "/machine-config", '{"vcpu_count": 2, "mem_size_mib": 256}'); // { status: 204 }
 * ```
 */
export class ApiHandler {
  readonly #controller: VmController;
  readonly #config: VmConfig;
  readonly #instanceId: string;
  readonly #routes: Map<string, Route>;
  readonly #requests = new ApiRequestCounters();
  readonly #metricsPeriodMs: number;
  #tail: Promise<unknown> = Promise.resolve();
  #metrics?: { sink: LineSink; recorder: MetricsRecorder };
  #metricsTimer?: ReturnType<typeof setInterval>;
  #logFile?: LineSink;
  #closed = false;

  /**
   * Builds the handler. A `config` that names a logger or a metrics file (from a config file)
   * opens them now, and throws the 400 a `PUT` would answer when it cannot.
   *
   * @example `new ApiHandler({ controller, config: VmConfig.fromJson(json) })`
   */
  constructor(o: ApiHandlerOptions) {
    this.#controller = o.controller;
    this.#config = o.config ?? new VmConfig();
    this.#instanceId = o.instanceId ?? DEFAULT_INSTANCE_ID;
    this.#metricsPeriodMs = o.metricsPeriodMs ?? METRICS_PERIOD_MS;
    this.#routes = this.#buildRoutes();
    const s = this.#config.snapshot();
    if (s.logger !== undefined) this.#openLogger(s.logger);
    if (s.metrics !== undefined) this.#openMetrics(s.metrics);
  }

  /** The configuration the API edits. @example `h.config.snapshot()` */
  get config(): VmConfig {
    return this.#config;
  }

  /**
   * Answers one request; never throws. `body` is the request body text ("" when none).
   *
   * @example
   * ```ts
   * const r = await h.handle("GET", "/", "");
   * r.body; // { id: "anonymous-instance", state: "Not started", vmm_version: "0.1.0", app_name: "denovmm" }
   * ```
   */
  handle(method: string, path: string, body: string): Promise<ApiResponse> {
    const run = this.#tail.then(() => this.#handleNow(method, path, body));
    this.#tail = run.catch(() => {});
    return run;
  }

  /**
   * Boots the configuration as `PUT /actions {"action_type": "InstanceStart"}` would (what
   * `--config-file` does); throws the {@link ApiError} that request would answer.
   *
   * @example
   * ```ts
   * await handler.start();
   * ```
   */
  async start(): Promise<void> {
    const r = await this.handle("PUT", "/actions", '{"action_type":"InstanceStart"}');
    if (r.status !== 204) {
      throw new ApiError(r.status, (r.body as { fault_message: string }).fault_message);
    }
  }

  /**
   * Stops the periodic flush, writes a last metrics line once the VM was started, closes the
   * metrics and log files and detaches the log sink. Idempotent.
   *
   * @example
   * ```ts
   * await handler.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => {});
    clearInterval(this.#metricsTimer);
    if (this.#metrics !== undefined && this.#controller.state() !== "Not started") {
      this.#writeMetrics();
    }
    this.#metrics?.sink.close();
    this.#metrics = undefined;
    if (this.#logFile !== undefined) {
      setExtraLogSink(undefined);
      this.#logFile.close();
      this.#logFile = undefined;
    }
  }

  async #handleNow(method: string, rawPath: string, text: string): Promise<ApiResponse> {
    let r: ApiResponse;
    try {
      if (this.#closed) throw new ApiError(503, "The API is shutting down.");
      r = await this.#dispatch(method, rawPath, text);
    } catch (e) {
      if (e instanceof ApiError) {
        r = faultOf(e);
      } else {
        log.error(`${method} ${rawPath} failed: ${e instanceof Error ? e.stack : String(e)}`);
        r = faultOf(new ApiError(500, `Internal error: ${(e as Error)?.message ?? String(e)}`));
      }
    }
    const key = this.#match(rawPath).key;
    this.#requests.count(method, key === undefined ? undefined : RESOURCE[key], r.status >= 300);
    log.debug(`${method} ${rawPath} -> ${r.status}`);
    return r;
  }

  async #dispatch(method: string, rawPath: string, text: string): Promise<ApiResponse> {
    const { key, id } = this.#match(rawPath);
    const route = key === undefined ? undefined : this.#routes.get(key);
    if (route === undefined) throw invalidPath(method, rawPath);
    const fn = route.methods[method as Method];
    if (fn === undefined) {
      const e = invalidPath(method, rawPath);
      return { ...faultOf(e), headers: { allow: Object.keys(route.methods).join(", ") } };
    }
    let body: unknown = undefined;
    if (method === "GET") {
      if (text.length > 0) throw new ApiError(400, "GET request cannot have a body.");
    } else {
      if (text.trim().length === 0) throw new ApiError(400, `Empty ${method} request.`);
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw bodyError((e as Error).message.slice(0, 200));
      }
    }
    return (await fn(id, body)) ?? { status: 204 };
  }

  /** Splits the path into a route key and the resource id (for `/drives/{id}` and the like). */
  #match(rawPath: string): { key?: string; id: string } {
    const path = rawPath.length > 1 && rawPath.endsWith("/") ? rawPath.slice(0, -1) : rawPath;
    const parts = path.split("/").slice(1);
    if (path === "/") return { key: "/", id: "" };
    if (parts.length === 1) return { key: parts[0], id: "" };
    if (parts.length === 2) {
      if (parts[0] === "drives" || parts[0] === "network-interfaces") {
        return { key: parts[0], id: parts[1] };
      }
      if (parts[0] === "vm" && parts[1] === "config") return { key: "vm/config", id: "" };
    }
    return { id: "" };
  }

  #preBoot(): void {
    if (this.#controller.state() !== "Not started") throw notAfterStart();
  }

  #buildRoutes(): Map<string, Route> {
    const c = this.#config;
    const ctl = this.#controller;
    const ok = (body: unknown): ApiResponse => ({ status: 200, body });
    const preBoot = (f: (id: string, body: unknown) => void): RouteFn => (id, body) => {
      this.#preBoot();
      f(id, body);
    };
    return new Map<string, Route>([
      ["/", {
        methods: {
          GET: () =>
            ok({
              id: this.#instanceId,
              state: ctl.state(),
              vmm_version: VMM_VERSION,
              app_name: "denovmm",
            }),
        },
      }],
      ["version", { methods: { GET: () => ok({ firecracker_version: VMM_VERSION }) } }],
      ["boot-source", { methods: { PUT: preBoot((_, b) => c.putBootSource(b)) } }],
      ["machine-config", {
        methods: {
          GET: () => ok(c.toJSON()["machine-config"]),
          PUT: preBoot((_, b) => c.putMachineConfig(b)),
          PATCH: preBoot((_, b) => c.patchMachineConfig(b)),
        },
      }],
      ["drives", {
        methods: {
          PUT: preBoot((id, b) => c.putDrive(id, b)),
          PATCH: (id, b) => this.#patchDrive(id, b),
        },
      }],
      ["network-interfaces", {
        methods: {
          PUT: preBoot((id, b) => c.putNetworkInterface(id, b)),
          // After boot there is no interface (InstanceStart refuses them), so this finds none.
          PATCH: (id, b) => c.patchNetworkInterface(id, b),
        },
      }],
      ["logger", { methods: { PUT: preBoot((_, b) => this.#putLogger(b)) } }],
      ["metrics", { methods: { PUT: preBoot((_, b) => this.#putMetrics(b)) } }],
      ["actions", { methods: { PUT: (_, b) => this.#action(b) } }],
      ["vm", { methods: { PATCH: (_, b) => this.#patchVm(b) } }],
      ["vm/config", { methods: { GET: () => ok(c.toJSON()) } }],
    ]);
  }

  /**
   * Before boot, denovmm lets PATCH change the stored drive (Firecracker refuses PATCH before
   * boot; accepting it breaks no Firecracker client). After boot the controller swaps the file.
   */
  async #patchDrive(id: string, body: unknown): Promise<void> {
    if (this.#controller.state() === "Not started") {
      this.#config.patchDrive(id, body);
      return;
    }
    const p = parseDrivePatch(id, body);
    if (!this.#config.hasDrive(p.drive_id)) this.#config.patchDrive(id, body); // throws: no such drive
    if (p.path_on_host !== undefined) {
      if (this.#controller.updateDrive === undefined) {
        throw new ApiError(
          400,
          "Changing a drive's backing file after boot is not supported by denovmm yet.",
        );
      }
      await this.#call(() => this.#controller.updateDrive!(p.drive_id, p.path_on_host!));
    }
    this.#config.patchDrive(id, body);
  }

  #putLogger(body: unknown): void {
    const l = parseLogger(body);
    this.#openLogger(l);
    this.#config.putLogger(body);
  }

  /** Opens the log file first, so a path that cannot be opened leaves everything as it was. */
  #openLogger(l: ReturnType<typeof parseLogger>): void {
    const file = l.log_path !== undefined ? opened("log", l.log_path) : undefined;
    if (this.#logFile !== undefined) {
      setExtraLogSink(undefined);
      this.#logFile.close();
    }
    this.#logFile = file;
    if (file !== undefined) setExtraLogSink(apiLogSink(l, file, this.#instanceId));
  }

  #putMetrics(body: unknown): void {
    const m = parseMetrics(body);
    if (this.#metrics !== undefined) this.#config.putMetrics(body); // throws: set once
    this.#openMetrics(m);
    this.#config.putMetrics(body);
  }

  #openMetrics(m: ReturnType<typeof parseMetrics>): void {
    const sink = opened("metrics", m.metrics_path);
    this.#metrics = { sink, recorder: new MetricsRecorder({ properties: m.properties }) };
  }

  /** Appends one metrics line; false (logged) when the file refused it. */
  #writeMetrics(): boolean {
    const m = this.#metrics;
    if (m === undefined) return true;
    const line = m.recorder.record({
      vm: this.#controller.counters(),
      api: this.#requests,
      missedMetrics: m.sink.missed,
    });
    if (m.sink.writeLine(JSON.stringify(line))) return true;
    log.warn(`Cannot write metrics to ${m.sink.path}: ${m.sink.lastError}`);
    return false;
  }

  #startPeriodicMetrics(): void {
    if (this.#metrics === undefined || this.#metricsTimer !== undefined) return;
    const timer = setInterval(() => this.#writeMetrics(), this.#metricsPeriodMs);
    // The timer must not keep a finished process alive.
    Deno.unrefTimer(timer);
    this.#metricsTimer = timer;
  }

  async #action(body: unknown): Promise<void> {
    const action = parseAction(body);
    switch (action) {
      case "InstanceStart": {
        this.#preBoot();
        const snapshot = this.#config.snapshot();
        toMachineFields(snapshot); // refuses what cannot boot before the controller is asked
        await this.#call(() => this.#controller.start(snapshot), "Start microvm error: ");
        this.#startPeriodicMetrics();
        return;
      }
      case "SendCtrlAltDel":
        if (this.#controller.state() === "Not started") throw notBeforeStart();
        return await this.#call(() => this.#controller.sendCtrlAltDel());
      case "FlushMetrics": {
        // As in Firecracker, flushing without a metrics file is a no-op.
        if (!this.#writeMetrics()) {
          throw new ApiError(
            400,
            `Cannot write metrics to ${this.#metrics!.sink.path}: ${
              this.#metrics!.sink.lastError
            }.`,
          );
        }
        return;
      }
    }
  }

  async #patchVm(body: unknown): Promise<void> {
    const state = parseVmState(body);
    if (this.#controller.state() === "Not started") throw notBeforeStart();
    const f = state === "Paused" ? this.#controller.pause : this.#controller.resume;
    if (f === undefined) {
      throw new ApiError(400, "Pausing and resuming the microVM is not supported by denovmm yet.");
    }
    await this.#call(() => f.call(this.#controller));
  }

  /**
   * Runs a controller call. Its errors are about this VM's input (a missing file, a bad image)
   * and become 400s, except programming errors, which stay 500s.
   */
  async #call(f: () => unknown, prefix = ""): Promise<void> {
    try {
      await f();
    } catch (e) {
      if (e instanceof ApiError || e instanceof TypeError || e instanceof ReferenceError) throw e;
      throw new ApiError(400, `${prefix}${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
