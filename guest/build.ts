/**
 * `deno task guest`: builds the default guest (or finds it in the cache) and says where it is.
 *
 * Usage: `deno task guest [--force] [--print-paths]`
 *
 * @example
 * ```sh
 * deno task guest --print-paths   # {"kernel": ".../vmlinux", "initrd": ..., ...}
 * ```
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { defaultGuest } from "./paths.ts";

const program = new Command("deno task guest")
  .description(
    "Build the denovmm default guest (kernel from linux-source-6.1, busybox initramfs), " +
      "cached under ${XDG_CACHE_HOME:-~/.cache}/denovmm/guest/",
  )
  .option("--force", "rebuild even when a build of the same inputs is cached")
  .option("--print-paths", "print the guest's paths as JSON on stdout (building first if needed)")
  .action(async (o) => {
    const guest = await defaultGuest({
      force: o.force ?? false,
      onProgress: (line) => console.error(line),
    });
    if (o.printPaths) {
      console.log(JSON.stringify(guest, null, 2));
    } else {
      console.error(`[guest] kernel   ${guest.kernel}`);
      console.error(`[guest] bzImage  ${guest.bzImage}`);
      console.error(`[guest] initrd   ${guest.initrd}`);
      console.error(`[guest] rootfs   ${guest.rootfs}`);
    }
  });

try {
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  console.error(`[guest] failed: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exit(1);
}
