/**
 * The one error type of the API server: an HTTP status and a Firecracker-style fault message,
 * sent to the client as `{"fault_message": "..."}`.
 *
 * @module
 */

/**
 * A request the API refuses, with the status to answer and the message to show.
 *
 * @example
 * ```ts
 * throw new ApiError(400, "The ID cannot be empty.");
 * ```
 */
export class ApiError extends Error {
  /** The HTTP status code of the answer. */
  readonly status: number;

  /**
   * @example `new ApiError(404, "Invalid request method and/or path: GET /nope.")`
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The prefix Firecracker puts before JSON body errors. */
const DESERIALIZE = "An error occurred when deserializing the json body of a request";

/**
 * A 400 for a body that does not match its schema, worded as Firecracker words serde errors.
 *
 * @example
 * ```ts
 * throw bodyError("missing field `kernel_image_path`");
 * ```
 */
export function bodyError(detail: string): ApiError {
  return new ApiError(400, `${DESERIALIZE}: ${detail}.`);
}

/**
 * Firecracker's refusal of a pre-boot-only request after InstanceStart.
 *
 * @example
 * ```ts
 * if (state !== "Not started") throw notAfterStart();
 * ```
 */
export function notAfterStart(): ApiError {
  return new ApiError(400, "The requested operation is not supported after starting the microVM.");
}

/**
 * Firecracker's refusal of a post-boot-only request before InstanceStart.
 *
 * @example
 * ```ts
 * if (state === "Not started") throw notBeforeStart();
 * ```
 */
export function notBeforeStart(): ApiError {
  return new ApiError(
    400,
    "The requested operation is not supported before starting the microVM.",
  );
}
