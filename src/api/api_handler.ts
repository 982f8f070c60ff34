/**
 * The API's routes and rules, apart from HTTP transport: a request is a method, a path and a
 * body text; the answer is a status and an optional JSON body. Requests are handled one at a
 * time, in arrival order, as Firecracker's API thread does, so an InstanceStart in progress and
 * a drive change never interleave.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { logger } from "../log.ts";
import { ApiError, bodyError, notAfterStart, notBeforeStart } from "./api_error.ts";
import { parseAction, parseVmState } from "./api_bodies.ts";
import { parseDrivePatch } from "./vm_config_parse.ts";
import { VmConfig } from "./vm_config.ts";
import type { VmController } from "./vm_controller.ts";
import { toMachineFields } from "./vm_to_machine.ts";

const log = logger("api");

/** denovmm's version, reported as `vmm_version` and `firecracker_version`. */
export const VMM_VERSION: string = denoJson.version;

/** Firecracker's instance id when none is given. */
export const DEFAULT_INSTANCE_ID = "anonymous-instance";

/** An answer: 204 without a body, or a status with a JSON body. */
export interface ApiResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Options of {@link ApiHandler}. */
export interface ApiHandlerOptions {
  controller: VmController;
  /** The configuration to build on (default: an empty one). */
  config?: VmConfig;
  /** Reported by `GET /` (default "anonymous-instance", like Firecracker). */
  instanceId?: string;
}

type Method = "GET" | "PUT" | "PATCH";
type RouteFn = (id: string, body: unknown) => Promise<ApiResponse | void> | ApiResponse | void;

interface Route {
  methods: Partial<Record<Method, RouteFn>>;
}

function invalidPath(method: string, path: string, status: number): ApiError {
  return new ApiError(
    status,
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
  #tail: Promise<unknown> = Promise.resolve();

  /** @example `new ApiHandler({ controller, config: VmConfig.fromJson(json) })` */
  constructor(o: ApiHandlerOptions) {
    this.#controller = o.controller;
    this.#config = o.config ?? new VmConfig();
    this.#instanceId = o.instanceId ?? DEFAULT_INSTANCE_ID;
    this.#routes = this.#buildRoutes();
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

  async #handleNow(method: string, rawPath: string, text: string): Promise<ApiResponse> {
    let r: ApiResponse;
    try {
      r = await this.#dispatch(method, rawPath, text);
    } catch (e) {
      if (e instanceof ApiError) {
        r = faultOf(e);
      } else {
        log.error(`${method} ${rawPath} failed: ${e instanceof Error ? e.stack : String(e)}`);
        r = faultOf(new ApiError(500, `Internal error: ${(e as Error)?.message ?? String(e)}`));
      }
    }
    log.debug(`${method} ${rawPath} -> ${r.status}`);
    return r;
  }

  async #dispatch(method: string, rawPath: string, text: string): Promise<ApiResponse> {
    const { key, id } = this.#match(rawPath);
    const route = key === undefined ? undefined : this.#routes.get(key);
    if (route === undefined) throw invalidPath(method, rawPath, 404);
    const fn = route.methods[method as Method];
    if (fn === undefined) {
      const e = invalidPath(method, rawPath, 405);
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
      ["logger", { methods: { PUT: preBoot((_, b) => c.putLogger(b)) } }],
      ["metrics", { methods: { PUT: preBoot((_, b) => c.putMetrics(b)) } }],
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

  async #action(body: unknown): Promise<void> {
    const action = parseAction(body);
    switch (action) {
      case "InstanceStart": {
        this.#preBoot();
        const snapshot = this.#config.snapshot();
        toMachineFields(snapshot); // refuses what cannot boot before the controller is asked
        return await this.#call(() => this.#controller.start(snapshot), "Start microvm error: ");
      }
      case "SendCtrlAltDel":
        if (this.#controller.state() === "Not started") throw notBeforeStart();
        return await this.#call(() => this.#controller.sendCtrlAltDel());
      case "FlushMetrics": {
        // As in Firecracker, flushing without a metrics sink is a no-op.
        const m = this.#config.metrics;
        if (m !== undefined) await this.#call(() => this.#controller.flushMetrics(m.metrics_path));
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
