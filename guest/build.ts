/**
 * `deno task guest`: builds (or finds) the default guest and prints where it is.
 *
 * Usage: `deno task guest [--force] [--print-paths]`
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { defaultGuest } from "./paths.ts";

const program = new Command("guest")
  .description("build the denovmm default guest (kernel + initramfs), cached outside the repo")
  .option("--force", "rebuild even when a cached build matches the inputs")
  .option("--print-paths", "print the built paths as JSON on stdout")
  .action(async (o) => {
    const g = await defaultGuest({ force: o.force ?? false, onProgress: (l) => console.error(l) });
    if (o.printPaths) console.log(JSON.stringify(g, null, 2));
    else console.error(`[guest] kernel ${g.kernel}\n[guest] initrd ${g.initrd}`);
  });

try {
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  console.error(`guest: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exit(1);
}
