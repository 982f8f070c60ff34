/**
 * The signal that kicks a vCPU thread out of `KVM_RUN`. A thread blocked in the ioctl returns
 * with EINTR only if the signal has a handler (an ignored signal is never delivered), so while
 * any vCPU runs, the process keeps a no-op SIGURG listener installed; it is removed with the
 * last vCPU so it never keeps the event loop alive. SIGURG's default action is to ignore it, so
 * a kick that lands after the removal is harmless.
 *
 * @module
 */

let users = 0;
const noop = () => {};

/**
 * Reference-counted installation of the kick handler.
 *
 * @example
 * ```ts
 * kickSignal.acquire();
 * // ... run vCPUs ...
 * kickSignal.release();
 * ```
 */
export const kickSignal = {
  /** Installs the handler for one more user. */
  acquire(): void {
    if (users++ === 0) Deno.addSignalListener("SIGURG", noop);
  },
  /** Drops one user; the last one removes the handler. */
  release(): void {
    if (users > 0 && --users === 0) Deno.removeSignalListener("SIGURG", noop);
  },
};
