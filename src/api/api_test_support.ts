/**
 * Test helpers for the API server: a fake {@link VmController}, a server on a socket in a temp
 * directory, a fetch-based client over that socket and a raw client for requests no HTTP
 * library would send.
 *
 * @module
 */

import { ApiError } from "./api_error.ts";
import { ApiHandler, type ApiHandlerOptions } from "./api_handler.ts";
import { type ApiServer, startApiServer } from "./server.ts";
import type { VmCounters } from "./metrics.ts";
import type { VmController, VmState } from "./vm_controller.ts";
import type { VmConfigData } from "./vm_config_types.ts";

/**
 * A VmController that records what it is asked.
 *
 * @example
 * ```ts
 * const fake = new FakeController({ pausable: true });
 * ```
 */
export class FakeController implements VmController {
  #state: VmState = "Not started";
  /** The configuration InstanceStart passed. */
  started?: VmConfigData;
  ctrlAltDels = 0;
  /** What counters() reports once started. */
  vmCounters: VmCounters = {
    vcpus: [{ pioIn: 0, pioOut: 0, mmioRead: 0, mmioWrite: 0, unhandled: 0 }],
    devices: [],
  };
  /** Make start() throw this. */
  startError?: Error;
  pause?: () => Promise<void>;
  resume?: () => Promise<void>;
  updateDrive?: (driveId: string, pathOnHost: string) => Promise<void>;

  /** @example `new FakeController()` */
  constructor(o: { pausable?: boolean } = {}) {
    if (o.pausable) {
      this.pause = () => {
        this.#state = "Paused";
        return Promise.resolve();
      };
      this.resume = () => {
        this.#state = "Running";
        return Promise.resolve();
      };
    }
  }

  /** @example `fake.state()` */
  state(): VmState {
    return this.#state;
  }

  /** @example `await fake.start(config)` */
  start(config: VmConfigData): Promise<void> {
    if (this.startError) return Promise.reject(this.startError);
    this.started = config;
    this.#state = "Running";
    return Promise.resolve();
  }

  /** @example `fake.sendCtrlAltDel()` */
  sendCtrlAltDel(): void {
    if (this.#state === "Not started") throw new ApiError(500, "fake: not started");
    this.ctrlAltDels++;
  }

  /** @example `fake.counters()` */
  counters(): VmCounters | undefined {
    return this.#state === "Not started" ? undefined : structuredClone(this.vmCounters);
  }
}

/** A server under test with its client. */
export interface TestApi extends AsyncDisposable {
  server: ApiServer;
  dir: string;
  socketPath: string;
  /** Sends a request; `body` objects are sent as JSON. */
  req(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined; headers: Headers }>;
}

/**
 * Starts a server on a socket in a fresh temp directory.
 *
 * @example
 * ```ts
 * await using api = await testApi(new FakeController());
 * const r = await api.req("GET", "/");
 * ```
 */
export async function testApi(
  controller: VmController,
  maxBodyBytes?: number,
  handlerOptions: Partial<ApiHandlerOptions> = {},
): Promise<TestApi> {
  const dir = await Deno.makeTempDir({ prefix: "denovmm-api-" });
  const socketPath = `${dir}/api.sock`;
  const handler = new ApiHandler({ controller, ...handlerOptions });
  const server = await startApiServer({ socketPath, handler, maxBodyBytes });
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  return {
    server,
    dir,
    socketPath,
    async req(method, path, body) {
      const r = await fetch(`http://localhost${path}`, {
        method,
        client,
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
      });
      const text = await r.text();
      let json: Record<string, unknown> | undefined;
      if (text.length > 0) json = JSON.parse(text);
      return { status: r.status, json, headers: r.headers };
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** True once `text` holds a whole response (headers and Content-Length bytes of body). */
function complete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const len = /^content-length: *(\d+)/im.exec(text.slice(0, end));
  return new TextEncoder().encode(text.slice(end + 4)).length >= Number(len?.[1] ?? 0);
}

/**
 * Writes `request` on a new connection and returns the server's first response (or what came
 * before the server closed; `""` if it closed without answering). The server may still be
 * draining an unread body then, so this does not wait for it to close. With `hangUp`, closes right after writing.
 *
 * @example
 * ```ts
 * const answer = await rawExchange(sock, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
 * ```
 */
export async function rawExchange(
  socketPath: string,
  request: string | Uint8Array,
  o: { hangUp?: boolean } = {},
): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  try {
    const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
    let at = 0;
    while (at < bytes.length) at += await conn.write(bytes.subarray(at));
    if (o.hangUp) return "";
    const chunks: string[] = [];
    const buf = new Uint8Array(65536);
    const dec = new TextDecoder();
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break; // reset by the server after an early answer
      }
      if (n === null) break;
      chunks.push(dec.decode(buf.subarray(0, n), { stream: true }));
      if (complete(chunks.join(""))) break;
    }
    return chunks.join("");
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
