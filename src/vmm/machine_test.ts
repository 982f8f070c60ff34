import assert from "node:assert/strict";
import { HAS_KVM } from "../../tests/support/payload_vm.ts";
import { I8042_RESET, printThenReset, SPIN, tinyKernel } from "../../tests/support/tiny_kernel.ts";
import { exitCodeOf, Machine, type MachineConfig } from "./machine.ts";

const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;

/**
 * Asserts the process is back to `before` open fds. A terminated Worker's thread closes its own
 * runtime's fds (its event loop's epoll and waker) a moment after `terminate()` returns, so the
 * count may lag; a real leak stays, and the message then names each open fd.
 */
async function assertFdsBackTo(before: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (openFds() > before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  if (openFds() === before) return;
  const open = [...Deno.readDirSync("/proc/self/fd")].map((e) => {
    try {
      return `${e.name} -> ${Deno.readLinkSync(`/proc/self/fd/${e.name}`)}`;
    } catch {
      return `${e.name} (gone)`;
    }
  });
  assert.fail(`${openFds()} fds open, ${before} expected:\n${open.join("\n")}`);
}

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
  await assertFdsBackTo(before);
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
    await assertFdsBackTo(before);
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
