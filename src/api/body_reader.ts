/**
 * Reads a request body with a size limit that holds while reading: a declared Content-Length
 * over the limit is refused before any byte is read, and a chunked or lying body is cut off as
 * soon as it passes the limit, so no request can make the server buffer more than the limit.
 *
 * @module
 */

import { ApiError } from "./api_error.ts";

/** Firecracker's default `--http-api-max-payload-size`, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 51200;

const decoder = new TextDecoder("utf-8", { fatal: true });

function tooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    `The request body is larger than the limit of ${limit} bytes allowed by the server.`,
  );
}

/**
 * The body of `req` as UTF-8 text ("" when there is none), or an {@link ApiError}: 413 over
 * `limit`, 400 when it is not UTF-8 or the client went away while sending it.
 *
 * @example
 * ```ts
 * const text = await readBody(request, DEFAULT_MAX_BODY_BYTES);
 * ```
 */
export async function readBody(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge(limit);
  }
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limit);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(400, `The request body could not be read: ${(e as Error).message}`);
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ApiError(400, "The request body is not valid UTF-8.");
  }
}
