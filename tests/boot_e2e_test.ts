/**
 * End to end: boots the default guest through the CLI, as a user would. A boot takes about a
 * minute on a kvm_pvm host (seconds on hardware KVM), so each boot is shared by several checks,
 * and the two boots run one after the other.
 */

import assert from "node:assert/strict";
import { defaultGuest } from "../guest/paths.ts";
import { isPvmHost } from "../src/cpu/pvm.ts";
import { HAS_KVM } from "./support/payload_vm.ts";
import { runCli } from "./support/cli_process.ts";

const BOOT_TIMEOUT_MS = 600_000;

Deno.test({
  name: "default guest: boots on 2 vCPUs, runs a command, reboots itself (exit 0); a panic exits 1",
  ignore: !HAS_KVM,
  fn: async (t) => {
    const guest = await defaultGuest({ build: false });
    const common = ["--kernel", guest.kernel, "--initrd", guest.initrd, "--mem", "256"];
    // One after the other: on a 2-core host, three vCPUs at once would mostly measure contention
    // (a preempted vCPU holding a guest spinlock stalls the other).
    const smp = await runCli([
      ...common,
      "--cpus",
      "2",
      "--",
      "echo guest-says-hello; uname -r; grep -c ^processor /proc/cpuinfo; cat /proc/cmdline",
    ], BOOT_TIMEOUT_MS);
    const panic = await runCli([...common, "--", "echo c > /proc/sysrq-trigger"], BOOT_TIMEOUT_MS);

    await t.step("the guest kernel's boot log reaches the terminal", () => {
      assert.match(smp.stdout, /Linux version 6\.1\.\S+-denovmm/);
      assert.match(smp.stdout, /ttyS0 at I\/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A/);
    });
    await t.step("the ready marker, then the command's output", () => {
      const ready = smp.stdout.indexOf("DENOVMM_READY");
      assert.ok(ready > 0, smp.stdout.slice(-2000));
      // The command also appears in the kernel's "Command line:" log: look for its output line.
      const said = smp.stdout.search(/^guest-says-hello\r?$/m);
      assert.ok(said > ready, smp.stdout.slice(-2000));
      assert.match(smp.stdout, /^6\.1\.\S+-denovmm\r?$/m);
      assert.match(smp.stdout, /DENOVMM_EXIT=0/);
    });
    await t.step("both vCPUs came up", () => {
      assert.match(smp.stdout, /smp: Brought up 1 node, 2 CPUs/);
      assert.match(smp.stdout, /^2\r?$/m);
    });
    await t.step("on a kvm_pvm host the PVM settings are applied and logged", () => {
      if (!isPvmHost()) return;
      assert.match(smp.stderr, /Host KVM is kvm_pvm: applying the PVM CPU settings/);
      assert.match(smp.stdout, /clearcpuid=popcnt,cx16,xsave,smap/);
    });
    await t.step("reboot -f in the guest ends the VMM with exit code 0", () => {
      assert.equal(smp.code, 0, smp.stderr);
      assert.match(smp.stderr, /Guest ended \(reset\)/);
    });
    await t.step("a guest kernel panic ends the VMM with exit code 1", () => {
      assert.match(panic.stdout, /Kernel panic - not syncing: sysrq triggered crash/);
      assert.equal(panic.code, 1, panic.stderr);
      assert.match(panic.stderr, /Guest kernel panicked/);
    });
    console.log(
      `boot + command: ${(smp.ms / 1000).toFixed(1)} s (2 vCPUs), panic run: ${
        (panic.ms / 1000).toFixed(1)
      } s`,
    );
  },
});
