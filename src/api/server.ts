/**
 * The Firecracker-compatible API server: HTTP/1.1 on a Unix socket with `Deno.serve`, answering
 * through an {@link ApiHandler}. Every request gets a JSON answer (or 204); no input makes it
 * throw, and an unexpected exception becomes a 500 fault and a log line.
 *
 * @module
 */

import { reasonOf } from "../cli/host_checks.ts";
import { logger } from "../log.ts";
import { ApiError } from "./api_error.ts";
import { ApiHandler, type ApiResponse } from "./api_handler.ts";
import { DEFAULT_MAX_BODY_BYTES, readBody } from "./body_reader.ts";
import type { VmConfig } from "./vm_config.ts";
import type { VmController } from "./vm_controller.ts";
import { socketPathProblem } from "./socket_path.ts";

const log = logger("api");

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** Where to create the Unix socket; it must not exist yet. */
  socketPath: string;
  /** The VM; ignored when `handler` is given. */
  controller?: VmController;
  /** The request handler to serve (default: a new one for `controller`, `config`, `instanceId`). */
  handler?: ApiHandler;
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
  /** The handler behind the socket. */
  readonly handler: ApiHandler;
  /**
   * Stops accepting requests, waits for those in flight, removes the socket file and closes
   * the handler (last metrics line, log file).
   */
  shutdown(): Promise<void>;
}

/** The API socket path cannot be used (taken, stale, not a socket). */
export class ApiSocketError extends Error {
  /** "ApiSocketError". */
  override name = "ApiSocketError";
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
 * Starts serving the API on `socketPath`. Throws an {@link ApiSocketError} when something is
 * already at the path (as Firecracker does: a stale socket is the caller's to remove; the
 * message says whether it is in use or stale) or it cannot be bound.
 *
 * @example
 * ```ts
 * await using api = await startApiServer({ socketPath: "/tmp/denovmm.sock", controller });
 * // curl --unix-socket /tmp/denovmm.sock -X PUT http://localhost/machine-config -d '{"vcpu_count":2,"mem_size_mib":256}'
 * ```
 */
export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const limit = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (o.handler === undefined && o.controller === undefined) {
    throw new Error("startApiServer needs a controller or a handler");
  }
  const problem = await socketPathProblem(o.socketPath);
  if (problem !== undefined) throw new ApiSocketError(problem);
  const handler = o.handler ?? new ApiHandler({
    controller: o.controller!,
    config: o.config,
    instanceId: o.instanceId,
  });
  const listening = Promise.withResolvers<void>();
  let server: Deno.HttpServer<Deno.UnixAddr>;
  try {
    server = serve(o.socketPath, () => listening.resolve(), handler, limit);
  } catch (e) {
    throw new ApiSocketError(
      `Cannot create the API socket ${o.socketPath}: ${reasonOf(e)}`,
    );
  }
  await listening.promise;
  log.info(`API server listening on ${o.socketPath}`);
  let done: Promise<void> | undefined;
  const shutdown = () =>
    done ??= (async () => {
      await server.shutdown();
      try {
        Deno.removeSync(o.socketPath);
      } catch { /* already gone */ }
      await handler.close();
    })();
  return {
    socketPath: o.socketPath,
    config: handler.config,
    handler,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

function serve(
  socketPath: string,
  onListen: () => void,
  handler: ApiHandler,
  limit: number,
): Deno.HttpServer<Deno.UnixAddr> {
  return Deno.serve({ path: socketPath, onListen, onError: internalError }, async (req) => {
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
}
