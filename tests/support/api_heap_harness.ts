/**
 * A `denovmm api` server (the real ApiHandler, server and MachineController) in a process of its
 * own that reports its memory on request: each line "measure" on stdin prints one JSON line
 * `{"heapUsed": ..., "rss": ..., "fds": ...}` after two full garbage collections. Run with
 * `--v8-flags=--expose-gc`; the socket path is the first argument.
 *
 * @module
 */

import { MachineController } from "../../src/api/machine_controller.ts";
import { startApiServer } from "../../src/api/server.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const server = await startApiServer({
  socketPath: Deno.args[0],
  controller: new MachineController(),
});
console.log("listening");
const decoder = new TextDecoder();
let pending = "";
for await (const chunk of Deno.stdin.readable) {
  pending += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const cmd = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (cmd !== "measure") continue;
    gc();
    gc();
    const m = Deno.memoryUsage();
    const fds = [...Deno.readDirSync("/proc/self/fd")].length;
    console.log(JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, fds }));
  }
}
await server.shutdown();
