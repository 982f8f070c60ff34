import assert from "node:assert/strict";
import { HAS_KVM } from "../../tests/support/payload_vm.ts";
import { I8042_RESET, printThenReset, SPIN, tinyKernel } from "../../tests/support/tiny_kernel.ts";
import { exitCodeOf, Machine, type MachineConfig } from "./machine.ts";

const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;

function config(code: number[], out: number[] = []): MachineConfig {
  return {
    kernel: tinyKernel(code),
    cmdline: "console=ttyS0",
    memMiB: 64,
    cpus: 2,
    cpuTemplate: "host",
    pvmQuirks: "off",
    consoleOutput: (b) => out.push(...b),
  };
}

const kvmTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_KVM, fn, sanitizeOps: false, sanitizeResources: false });

kvmTest("Machine: a host stop ends every vCPU and releases every fd", async () => {
  // A first VM makes Deno open what it keeps for good (the signal pipe, worker runtime files).
  const warm = Machine.create(config(SPIN));
  warm.start();
  await warm.stop();
  const before = openFds();
  const m = Machine.create(config(SPIN));
  assert.ok(openFds() > before);
  m.start();
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await m.stop(), { kind: "stopped" });
  assert.equal(openFds(), before);
});

kvmTest(
  "Machine: the guest writing 0xFE to port 0x64 ends it as a reset (exit code 0)",
  async () => {
    const before = openFds();
    const m = Machine.create(config(I8042_RESET));
    m.start();
    const exit = await m.exited;
    assert.deepEqual(exit, { kind: "reset" });
    assert.equal(exitCodeOf(exit), 0);
    assert.equal(openFds(), before);
  },
);

kvmTest(
  "Machine: serial output reaches the console; a panic banner makes the reset a panic",
  async () => {
    const out: number[] = [];
    const m = Machine.create(config(printThenReset("Kernel panic - not syncing: test\n"), out));
    m.start();
    const exit = await m.exited;
    assert.equal(
      new TextDecoder().decode(new Uint8Array(out)),
      "Kernel panic - not syncing: test\n",
    );
    assert.deepEqual(exit, { kind: "panic", message: "Kernel panic - not syncing: test" });
    assert.equal(exitCodeOf(exit), 1);
  },
);

kvmTest("Machine: two VMs run in one process at once", async () => {
  const a: number[] = [];
  const b: number[] = [];
  const ma = Machine.create(config(printThenReset("A\n"), a));
  const mb = Machine.create(config(printThenReset("B\n"), b));
  ma.start();
  mb.start();
  const [ea, eb] = await Promise.all([ma.exited, mb.exited]);
  assert.equal(ea.kind, "reset");
  assert.equal(eb.kind, "reset");
  assert.equal(String.fromCharCode(...a), "A\n");
  assert.equal(String.fromCharCode(...b), "B\n");
});

Deno.test("Machine: an unknown CPU template is a plain error", () => {
  assert.throws(
    () => Machine.create({ ...config(SPIN), cpuTemplate: "fancy" }),
    /Unknown CPU template "fancy" \(known: host, minimal\)/,
  );
});
