/**
 * The VM options `run`/`demo` and `exec` share, each built once here so the two commands cannot
 * drift apart in names, parsing or defaults.
 *
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import { CPU_TEMPLATES } from "../cpu/cpuid.ts";
import type { PvmQuirksMode } from "../cpu/pvm.ts";
import { LOG_LEVELS } from "../log.ts";
import { intIn, oneOf } from "./parse.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * The shared options, fresh instances on every call (commander keeps per-command state in them).
 *
 * @example
 * ```ts
 * const o = vmOptions("info");
 * new Command("run").addOption(o.mem).addOption(o.cpus);
 * ```
 */
export function vmOptions(defaultLogLevel: (typeof LOG_LEVELS)[number]) {
  return {
    mem: new Option("--mem <MiB>", "guest RAM in MiB").argParser(intIn(1, 2 ** 24)).default(256),
    cpus: new Option("--cpus <n>", "number of vCPUs").argParser(intIn(1, 64)).default(1),
    cpuTemplate: new Option("--cpu-template <name>", "CPU features the guest sees")
      .choices(Object.keys(CPU_TEMPLATES))
      .default("host"),
    pvmQuirks: new Option(
      "--pvm-quirks <mode>",
      "PVM-host guest settings: auto detects a kvm_pvm host",
    )
      .argParser(oneOf<PvmQuirksMode>(["auto", "on", "off"]))
      .default("auto" as PvmQuirksMode),
    logLevel: new Option("--log-level <level>", "log verbosity (logs go to stderr)")
      .choices(LOG_LEVELS)
      .default(defaultLogLevel),
    disk: new Option(
      "--disk <path[,ro]>",
      "raw disk image as a virtio-blk device (repeatable: /dev/vda, /dev/vdb, ...)",
    ).argParser(collect).default([] as string[]),
    net: new Option(
      "--net <tap=NAME[,mac=MAC]>",
      "virtio-net interface on an existing tap (repeatable: eth0, eth1, ...)",
    ).argParser(collect).default([] as string[]),
  };
}
