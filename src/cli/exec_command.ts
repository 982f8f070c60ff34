/**
 * `denovmm exec [vm options] -- CMD ARGS...`: boots a sandbox VM, runs one command in it through
 * the guest agent with its stdout/stderr streamed here, and exits with the command's exit code
 * (like `lkvm sandbox` or `vng -- cmd`). The guest console goes to `--console-log` or nowhere.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { setupLogging } from "../log.ts";
import { BootError, MicroVm, type MicroVmOptions } from "../sandbox/micro_vm.ts";
import type { SandboxProcess } from "../sandbox/sandbox_process.ts";
import { DiskImageError } from "../virtio/block/file_backend.ts";
import { TapError } from "../virtio/net/tap_backend.ts";
import { BootImageError } from "../vmm/machine.ts";
import { checkKvmAccess, checkMemory } from "./host_checks.ts";
import { parseNetSpecs } from "./net_spec.ts";
import { intIn } from "./parse.ts";
import { parseDisk } from "./run_command.ts";
import { UsageError } from "./usage_error.ts";
import { vmOptions } from "./vm_options.ts";

/** Exit code when the VM, not the command, failed (as `docker run` uses 125). */
export const EXIT_VMM_FAILURE = 125;

function parseEnv(v: string, prev: Record<string, string>): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq <= 0) throw new UsageError(`--env ${v}: expected KEY=VALUE`);
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

async function writeAll(w: { write(b: Uint8Array): Promise<number> }, b: Uint8Array) {
  for (let at = 0; at < b.length;) at += await w.write(b.subarray(at));
}

async function drain(s: ReadableStream<Uint8Array>, to: typeof Deno.stdout): Promise<void> {
  for await (const chunk of s) await writeAll(to, chunk);
}

async function forwardStdin(p: SandboxProcess): Promise<void> {
  const w = p.stdin.getWriter();
  try {
    if (!Deno.stdin.isTerminal()) {
      for await (const chunk of Deno.stdin.readable) await w.write(chunk);
    }
    await w.close();
  } catch { /* the command ended first */ }
}

/**
 * The `exec` subcommand.
 *
 * @example
 * ```ts
 * program.addCommand(execCommand());
 * ```
 */
export function execCommand() {
  const shared = vmOptions("warning");
  return new Command("exec")
    .description("boot a sandbox VM, run CMD in it, exit with its exit code")
    .usage("[options] -- CMD [ARGS...]")
    .option("--kernel <path>", "kernel image (default: the default guest's vmlinux)")
    .option("--initrd <path>", "initramfs with the denovmm agent (default: the default guest's)")
    .option("--cmdline <string>", "kernel command line (denovmm.agent=1 is added)")
    .addOption(shared.mem)
    .addOption(shared.cpus)
    .addOption(shared.cpuTemplate)
    .addOption(shared.pvmQuirks)
    .addOption(shared.logLevel)
    .addOption(shared.disk)
    .addOption(shared.net)
    .option("--env <KEY=VALUE>", "environment variable for CMD (repeatable)", parseEnv, {})
    .option("--cwd <dir>", "working directory of CMD in the guest", "/root")
    .option("--console-log <path>", "write the guest console (boot log) to this file")
    .option(
      "--boot-timeout <seconds>",
      "give up when the guest is not ready by then",
      intIn(1, 86400),
      300,
    )
    .argument("<cmd...>", "the command and its arguments, after --")
    .action(async (argv, o) => {
      setupLogging(o.logLevel);
      checkMemory(o.mem);
      const disks = o.disk.map(parseDisk);
      const nets = parseNetSpecs(o.net);
      checkKvmAccess();
      Deno.exitCode = await execInVm(argv, {
        kernel: o.kernel,
        initrd: o.initrd,
        cmdline: o.cmdline,
        memMiB: o.mem,
        cpus: o.cpus,
        cpuTemplate: o.cpuTemplate,
        pvmQuirks: o.pvmQuirks,
        disks,
        nets,
        bootTimeoutMs: o.bootTimeout * 1000,
        env: o.env,
        cwd: o.cwd,
        consoleLog: o.consoleLog,
      });
    });
}

async function execInVm(
  argv: string[],
  o: MicroVmOptions & {
    env: Record<string, string>;
    cwd: string;
    consoleLog?: string;
  },
): Promise<number> {
  let vm: MicroVm;
  try {
    vm = await MicroVm.boot(o);
  } catch (e) {
    if (e instanceof DiskImageError || e instanceof BootImageError || e instanceof TapError) {
      throw new UsageError(e.message);
    }
    if (e instanceof BootError) {
      console.error(`denovmm: ${e.message}`);
      return EXIT_VMM_FAILURE;
    }
    throw e;
  }
  const consoleDone = o.consoleLog === undefined
    ? vm.console.cancel()
    : Deno.open(o.consoleLog, { write: true, create: true, truncate: true })
      .then((f) => vm.console.pipeTo(f.writable));
  const p = vm.spawn(argv[0], { args: argv.slice(1), env: o.env, cwd: o.cwd });
  const onSignal = (sig: "SIGINT" | "SIGTERM") => () => void p.kill(sig).catch(() => {});
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  for (const [s, h] of Object.entries(handlers)) Deno.addSignalListener(s as Deno.Signal, h);
  try {
    forwardStdin(p);
    const [status] = await Promise.all([
      p.wait(),
      drain(p.stdout, Deno.stdout),
      drain(p.stderr, Deno.stderr),
    ]);
    return status.exitCode;
  } catch (e) {
    console.error(`denovmm: ${(e as Error).message}`);
    return EXIT_VMM_FAILURE;
  } finally {
    for (const [s, h] of Object.entries(handlers)) Deno.removeSignalListener(s as Deno.Signal, h);
    await vm.shutdown();
    await consoleDone.catch(() => {});
  }
}
