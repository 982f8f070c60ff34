/**
 * Sandbox benchmark, all in one run so host noise hits every row alike:
 * - boot: `MicroVm.boot()` to a ready agent, beside a plain `Machine` boot of the same kernel and
 *   initramfs to the `/init` marker `DENOVMM_READY` (no agent), alternating, medians of `--boots`;
 * - `vm.run("true")` on a booted VM, median of `--runs`; beside it what one fork+exec of
 *   /bin/true costs inside the guest (a shell loop of 20, timed around one `run`, minus an empty
 *   `sh -c :`), and `run("true")` against the same agent as a host process over pipes (the
 *   protocol and client without the VM).
 *
 * Usage: `deno task bench:sandbox [--boots N] [--runs N]`
 *
 * @module
 */

import { defaultGuest } from "../guest/paths.ts";
import { AgentClient } from "../src/agent/client.ts";
import { startAgentProcess } from "../src/agent/agent_process.ts";
import { MicroVm } from "../src/sandbox/micro_vm.ts";
import { runCommand } from "../src/sandbox/run_command.ts";
import { DEFAULT_CMDLINE, Machine } from "../src/vmm/machine.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const boots = Number(args.boots ?? 2);
const runs = Number(args.runs ?? 50);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const guest = await defaultGuest({ onProgress: (l) => console.error(l) });
const kernel = await Deno.readFile(guest.kernel);
const initrd = await Deno.readFile(guest.initrd);

async function plainBoot(): Promise<number> {
  const t0 = performance.now();
  let seen = "";
  let readyAt = 0;
  const dec = new TextDecoder();
  const m = Machine.create({
    kernel,
    initrd,
    cmdline: DEFAULT_CMDLINE,
    memMiB: 256,
    cpus: 1,
    cpuTemplate: "host",
    pvmQuirks: "auto",
    consoleOutput: (b) => {
      if (readyAt !== 0) return;
      seen = (seen + dec.decode(b)).slice(-64);
      if (seen.includes("DENOVMM_READY")) {
        readyAt = performance.now();
        m.stop();
      }
    },
  });
  m.start();
  await m.exited;
  if (readyAt === 0) throw new Error("the plain boot ended before DENOVMM_READY");
  return readyAt - t0;
}

async function timeRuns(run: () => Promise<unknown>, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return ms;
}

const plain: number[] = [];
const agent: number[] = [];
let vm: MicroVm | undefined;
for (let i = 0; i < boots; i++) {
  plain.push(await plainBoot());
  await vm?.shutdown();
  vm = await MicroVm.boot({ kernel, initrd });
  agent.push(vm.readyMs);
  console.error(
    `boot ${i + 1}/${boots}: plain ${plain.at(-1)!.toFixed(0)} ms, agent ${
      vm.readyMs.toFixed(0)
    } ms`,
  );
}
const runTrue = median(await timeRuns(() => vm!.run("true"), runs));
const loop = "i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i+1)); done";
const loops = await timeRuns(() => vm!.run("sh", { args: ["-c", loop] }), 5);
const empty = await timeRuns(() => vm!.run("sh", { args: ["-c", ":"] }), 5);
const guestSpawn = (median(loops) - median(empty)) / 20;
await vm!.shutdown();

const dir = await Deno.makeTempDir({ prefix: "denovmm-bench-" });
let hostTrue: number;
{
  await using proc = await startAgentProcess(dir);
  const client = new AgentClient(proc);
  await client.ready;
  hostTrue = median(await timeRuns(() => runCommand(client, "true", {}), runs));
  await client.shutdown();
}
await Deno.remove(dir, { recursive: true });

const row = (name: string, v: number, base?: number) =>
  `${name.padEnd(58)} ${v.toFixed(1).padStart(9)} ms${
    base === undefined ? "" : `   ${(v / base).toFixed(2)}x`
  }`;
console.log(`\nSandbox benchmark: medians (${boots} boots, ${runs} runs), 256 MiB, 1 vCPU\n`);
console.log(row("plain boot to DENOVMM_READY (baseline)", median(plain)));
console.log(row("MicroVm.boot() to agent ready", median(agent), median(plain)));
console.log(row("one fork+exec of /bin/true inside the guest (baseline)", guestSpawn));
console.log(row('vm.run("true") on a booted VM', runTrue, guestSpawn));
console.log(row('run("true") against the agent as a host process', hostTrue));
