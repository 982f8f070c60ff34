/**
 * The Firecracker-compatible API server: HTTP/1.1 on a Unix socket with `Deno.serve`, answering
 * through an {@link ApiHandler}. Every request gets a JSON answer (or 204); no input makes it
 * throw, and an unexpected exception becomes a 500 fault and a log line.
 *
 * @module
 */

import { logger } from "../log.ts";
import { ApiError } from "./api_error.ts";
import { ApiHandler, type ApiResponse } from "./api_handler.ts";
import { DEFAULT_MAX_BODY_BYTES, readBody } from "./body_reader.ts";
import type { VmConfig } from "./vm_config.ts";
import type { VmController } from "./vm_controller.ts";

const log = logger("api");

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** Where to create the Unix socket; it must not exist yet. */
  socketPath: string;
  controller: VmController;
  /** A configuration to start from (e.g. from `--config-file`). */
  config?: VmConfig;
  /** Reported as `id` by `GET /`. */
  instanceId?: string;
  /** Largest accepted request body in bytes (default 51200, Firecracker's). */
  maxBodyBytes?: number;
}

/** A running API server. */
export interface ApiServer extends AsyncDisposable {
  /** The socket path. */
  readonly socketPath: string;
  /** The configuration the API edits. */
  readonly config: VmConfig;
  /** Stops accepting requests, waits for those in flight and removes the socket file. */
  shutdown(): Promise<void>;
}

function toResponse(r: ApiResponse): Response {
  if (r.body === undefined) return new Response(null, { status: r.status, headers: r.headers });
  return new Response(JSON.stringify(r.body), {
    status: r.status,
    headers: { "content-type": "application/json", ...r.headers },
  });
}

function hasBodyHeaders(h: Headers): boolean {
  const len = h.get("content-length");
  return (len !== null && len.trim() !== "0") || h.has("transfer-encoding");
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    throw new ApiError(400, "The request target is not a valid path.");
  }
}

function internalError(e: unknown): Response {
  log.error(`API request failed: ${e instanceof Error ? e.stack : String(e)}`);
  return toResponse({ status: 500, body: { fault_message: "Internal server error." } });
}

/**
 * Starts serving the API on `socketPath`. Throws when the path already exists (as Firecracker
 * does: a stale socket is the caller's to remove) or cannot be bound.
 *
 * @example
 * ```ts
 * await using api = await startApiServer({ socketPath: "/tmp/denovmm.sock", controller });
 * // curl --unix-socket /tmp/denovmm.sock -X PUT http://localhost/machine-config -d '{"vcpu_count":2,"mem_size_mib":256}'
 * ```
 */
export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const limit = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handler = new ApiHandler({
    controller: o.controller,
    config: o.config,
    instanceId: o.instanceId,
  });
  let exists = false;
  try {
    Deno.lstatSync(o.socketPath);
    exists = true;
  } catch { /* the usual case: nothing there */ }
  if (exists) {
    throw new Error(
      `The API socket path ${o.socketPath} already exists; remove it or choose another path`,
    );
  }
  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    path: o.socketPath,
    onListen: () => listening.resolve(),
    onError: internalError,
  }, async (req) => {
    try {
      let text: string;
      let path: string;
      try {
        path = pathOf(req.url);
        // Deno gives GET requests no body stream, so look at the framing headers instead.
        if (req.method === "GET" && hasBodyHeaders(req.headers)) {
          throw new ApiError(400, "GET request cannot have a body.");
        }
        text = await readBody(req, limit);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        return toResponse({ status: e.status, body: { fault_message: e.message } });
      }
      return toResponse(await handler.handle(req.method, path, text));
    } catch (e) {
      return internalError(e);
    }
  });
  await listening.promise;
  log.info(`API server listening on ${o.socketPath}`);
  let done: Promise<void> | undefined;
  const shutdown = () =>
    done ??= (async () => {
      await server.shutdown();
      try {
        Deno.removeSync(o.socketPath);
      } catch { /* already gone */ }
    })();
  return {
    socketPath: o.socketPath,
    config: handler.config,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
