/**
 * The `denovmm` command line.
 *
 * @example
 * ```sh
 * deno run -A src/cli/main.ts run --kernel vmlinux --initrd initramfs.cpio.gz --mem 256
 * ```
 * @module
 */

import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { setupLogging } from "../log.ts";
import { DEFAULT_CMDLINE } from "../vmm/machine.ts";
import { runVm } from "./run_command.ts";
import { apiCommand, runFromRunCommand, wantsApi } from "./api_command.ts";
import { UsageError } from "./usage_error.ts";
import { execCommand } from "./exec_command.ts";
import { vmOptions } from "./vm_options.ts";

/** Exit code for bad usage. */
export const EXIT_USAGE = 2;

function vmCommand(name: string, description: string, buildGuest: boolean) {
  const shared = vmOptions("info");
  return new Command(name)
    .description(description)
    .option(
      "--kernel <path>",
      "kernel image: ELF vmlinux or bzImage (default: the default guest's vmlinux)",
    )
    .option(
      "--initrd <path>",
      "initramfs image (default: the default guest's, with --kernel unset)",
    )
    .option(
      "--cmdline <string>",
      `kernel command line (default: "${DEFAULT_CMDLINE}", or hvc0 with --console virtio)`,
    )
    .addOption(shared.mem)
    .addOption(shared.cpus)
    .addOption(shared.cpuTemplate)
    .addOption(shared.pvmQuirks)
    .addOption(shared.logLevel)
    .addOption(shared.disk)
    .addOption(shared.net)
    .addOption(
      new Option("--console <device>", "guest console: serial (ttyS0) or virtio (hvc0)")
        .choices(["serial", "virtio"] as const)
        .default("serial" as const),
    )
    .option("--api-sock <path>", "also serve the Firecracker-compatible API on this Unix socket")
    .option("--config-file <path>", "boot the VM a Firecracker configuration file describes")
    .option("--no-api", "with --config-file: no API socket (Firecracker's --no-api)")
    .option("--id <id>", "instance id for the API's GET / and log lines")
    .argument("[init-args...]", "arguments for the guest's init, after --")
    .action(async (initArgs, o, cmd) => {
      setupLogging(o.logLevel);
      if (wantsApi(o)) {
        const source = (k: string) => cmd.getOptionValueSource(k as never);
        Deno.exitCode = await runFromRunCommand(initArgs, o, source, buildGuest);
        return;
      }
      Deno.exitCode = await runVm({
        kernel: o.kernel,
        initrd: o.initrd,
        cmdline: o.cmdline,
        mem: o.mem,
        cpus: o.cpus,
        cpuTemplate: o.cpuTemplate,
        pvmQuirks: o.pvmQuirks,
        initArgs,
        buildGuest,
        disks: o.disk,
        console: o.console,
        nets: o.net,
      });
    });
}

/**
 * Builds the `denovmm` program (exported for tests).
 *
 * @example
 * ```ts
 * await program().parseAsync(["run", "--help"], { from: "user" });
 * ```
 */
export function program(): Command {
  const p = new Command("denovmm")
    .description("A microVM monitor in TypeScript on Deno and KVM")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError(false);
  p.addCommand(
    vmCommand("run", "boot a microVM with its console on this terminal", false).exitOverride(),
  );
  p.addCommand(
    vmCommand("demo", "boot the default guest, building it first when it is not cached", true)
      .exitOverride(),
  );
  p.addCommand(apiCommand().exitOverride());
  p.addCommand(execCommand().exitOverride());
  return p as unknown as Command;
}

/**
 * Runs the CLI with `args` and returns the exit code; never throws.
 *
 * @example
 * ```ts
 * Deno.exit(await main(Deno.args));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    await program().parseAsync(args, { from: "user" });
    return Number(Deno.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message; --help and --version are not errors.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`denovmm: ${msg}`);
    return e instanceof UsageError ? EXIT_USAGE : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
