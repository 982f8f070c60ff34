/**
 * One guest build at a time per cache: tests, benchmarks and `deno task guest` may all ask for the
 * guest at once, and two `make`s in one kernel tree spoil each other's output.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Runs `fn` holding an exclusive `flock` on `lockPath` (created if needed). The kernel drops the
 * lock when the holder dies, so a killed build never leaves the cache locked. Calls `onWait` once
 * if the lock is not free within half a second.
 *
 * @example
 * ```ts
 * await withBuildLock(`${cacheRoot()}/build/.lock`, () => console.error("waiting..."), build);
 * ```
 */
export async function withBuildLock<T>(
  lockPath: string,
  onWait: () => void,
  fn: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true });
  const file = await Deno.open(lockPath, { create: true, write: true });
  try {
    const locked = file.lock(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slow = new Promise<"slow">((resolve) => {
      timer = setTimeout(() => resolve("slow"), 500);
    });
    if (await Promise.race([locked, slow]) === "slow") onWait();
    clearTimeout(timer);
    await locked;
    try {
      return await fn();
    } finally {
      await file.unlock();
    }
  } finally {
    file.close();
  }
}
