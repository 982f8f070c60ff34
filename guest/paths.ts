/**
 * The default guest for the VMM: its cached paths, built first when needed.
 *
 * @module
 */

import { buildGuest, findCachedGuest, type GuestPaths, type Progress } from "./builder.ts";

export type { GuestPaths, Progress } from "./builder.ts";

/** Options of {@link defaultGuest}. */
export interface DefaultGuestOptions {
  /** Build when the guest for the current inputs is not cached (default true). */
  build?: boolean;
  /** Rebuild even when it is cached (what `deno task guest --force` does). */
  force?: boolean;
  /** Build progress lines; printed on stderr when unset. */
  onProgress?: Progress;
}

/**
 * The default guest (ELF `vmlinux`, `bzImage`, `initramfs.cpio[.gz]`, `System.map`) for the
 * current contents of `guest/`. Returns at once when it is cached; otherwise builds it (about
 * 5 minutes on 2 cores) or, with `build: false`, throws an Error saying to run `deno task guest`.
 *
 * @example
 * ```ts
 * import { defaultGuest } from "./guest/paths.ts";
 * const { kernel, initrd } = await defaultGuest({ build: false });
 * ```
 */
export async function defaultGuest(opts: DefaultGuestOptions = {}): Promise<GuestPaths> {
  if (!opts.force) {
    const cached = findCachedGuest();
    if (cached) return cached;
    if (opts.build === false) {
      throw new Error(
        "The default guest is not built for the current guest/ files: run `deno task guest` " +
          "(about 5 minutes on 2 cores)",
      );
    }
  }
  return await buildGuest({ force: opts.force ?? false, onProgress: opts.onProgress });
}
