/**
 * A mistake in what the user asked for (a missing file, a bad number): the CLI prints its
 * message on one line and exits with code 2, without a stack trace.
 *
 * @module
 */

/**
 * Bad user input.
 *
 * @example
 * ```ts
 * throw new UsageError("Cannot open kernel ./vmlinux: no such file");
 * ```
 */
export class UsageError extends Error {
  /**
   * @example
   * ```ts
   * new UsageError("--cpus must be at least 1");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
