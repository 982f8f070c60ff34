/**
 * Malformed API traffic and a measured API server, shared by the API stress tests and
 * `bench/api_memory.ts`: a fixed list of bad requests (each must get a 4xx JSON fault), and
 * {@link HeapHarness}, which runs the real API server in a child process (`api_heap_harness.ts`)
 * and reads its heap after GC, RSS and open fds on request.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Sends one request; resolves to the status and the parsed JSON body (if any). */
export type ApiRequest = (
  method: string,
  path: string,
  body?: string,
) => Promise<{ status: number; json?: Record<string, unknown> }>;

/** Requests that every API server state must refuse with a JSON fault: [method, path, body]. */
export const MALFORMED: readonly (readonly [string, string, string | undefined])[] = [
  ["PUT", "/machine-config", "{not json"],
  ["PUT", "/machine-config", '{"vcpu_count": "one", "mem_size_mib": 128}'],
  ["PUT", "/machine-config", '{"vcpu_count": 1, "mem_size_mib": 128, "x": 1}'],
  [
    "PUT",
    "/drives/a",
    '{"drive_id": "b", "path_on_host": "p", "is_root_device": true, "is_read_only": false}',
  ],
  ["PATCH", "/drives/none", '{"drive_id": "none", "path_on_host": "p"}'],
  ["PUT", "/boot-source", '{"kernel_image_path": "/nonexistent/vmlinux"}'],
  ["PUT", "/boot-source", "[]"],
  ["GET", "/nope", undefined],
  ["DELETE", "/vm", undefined],
  ["PATCH", "/vm", '{"state": "Paused"}'],
  ["PUT", "/actions", '{"action_type": "Explode"}'],
  ["PUT", "/actions", '{"action_type": "InstanceStart"}'],
  ["PUT", "/network-interfaces/%00", "{}"],
  ["PUT", "/logger", '{"log_path": "/nonexistent/dir/log"}'],
  ["PUT", "/boot-source", JSON.stringify({ kernel_image_path: "x".repeat(60000) })],
];

/**
 * Sends `n` requests from {@link MALFORMED} in turn; throws unless each gets a 4xx with a
 * `fault_message`.
 *
 * @example `await sendMalformed(req, 10_000);`
 */
export async function sendMalformed(req: ApiRequest, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const [method, path, body] = MALFORMED[i % MALFORMED.length];
    const r = await req(method, path, body);
    assert.ok(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status}`);
    assert.equal(typeof r.json?.fault_message, "string", `${method} ${path}`);
  }
}

/** What the harness reports: bytes of JS heap in use after two full GCs, RSS, open fds. */
export interface ServerMemory {
  heapUsed: number;
  rss: number;
  fds: number;
}

/**
 * The real API server (ApiHandler, server, MachineController) in a child process that reports
 * its memory on request.
 *
 * @example
 * ```ts
 * await using h = await HeapHarness.start();
 * await sendMalformed(h.req, 1000);
 * console.log((await h.measure()).heapUsed);
 * ```
 */
export class HeapHarness {
  readonly #dir: string;
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #client: Deno.HttpClient;
  #buffered = "";

  private constructor(dir: string) {
    this.#dir = dir;
    const harness = new URL("./api_heap_harness.ts", import.meta.url).pathname;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-ffi", "--v8-flags=--expose-gc", harness, this.socketPath],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdin = this.#child.stdin.getWriter();
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socketPath } });
  }

  /** Starts the server process and waits until it listens. */
  static async start(): Promise<HeapHarness> {
    const h = new HeapHarness(await Deno.makeTempDir({ prefix: "denovmm-api-heap-" }));
    const first = await h.#nextLine();
    if (first !== "listening") throw new Error(`the API harness said "${first}", not "listening"`);
    return h;
  }

  /** The server's Unix socket. */
  get socketPath(): string {
    return `${this.#dir}/api.sock`;
  }

  /** One request over the socket. */
  readonly req: ApiRequest = async (method, path, body) => {
    const r = await fetch(`http://localhost${path}`, { method, client: this.#client, body });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  };

  /** The server's memory after two full garbage collections. */
  async measure(): Promise<ServerMemory> {
    await this.#stdin.write(new TextEncoder().encode("measure\n"));
    return JSON.parse(await this.#nextLine()) as ServerMemory;
  }

  async #nextLine(): Promise<string> {
    for (;;) {
      const nl = this.#buffered.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffered.slice(0, nl);
        this.#buffered = this.#buffered.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("the API harness ended");
      this.#buffered += value;
    }
  }

  /** Ends the server (closing its stdin ends its loop) and removes the socket's directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#client.close();
    await this.#stdin.close().catch(() => {});
    this.#lines.releaseLock();
    await this.#child.stdout.cancel().catch(() => {});
    await this.#child.status;
    await Deno.remove(this.#dir, { recursive: true });
  }
}
