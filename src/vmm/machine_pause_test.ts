import assert from "node:assert/strict";
import { HAS_KVM } from "../../tests/support/payload_vm.ts";
import { tinyKernel } from "../../tests/support/tiny_kernel.ts";
import { CTRL_ALT_DEL_SET1 } from "../devices/legacy/i8042.ts";
import { Machine, type MachineConfig } from "./machine.ts";

const kvmTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_KVM, fn, sanitizeOps: false, sanitizeResources: false });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(code: number[], out: number[] = [], cpus = 2): MachineConfig {
  return {
    kernel: tinyKernel(code),
    cmdline: "console=ttyS0",
    memMiB: 64,
    cpus,
    cpuTemplate: "host",
    pvmQuirks: "off",
    consoleOutput: (b) => out.push(...b),
  };
}

// out 0x80, al ; jmp back: one PIO exit per turn, counted in the vCPU's pioOut.
const POST_LOOP = [0xe6, 0x80, 0xeb, 0xfc];

kvmTest("Machine.pause stops the exits of every vCPU, resume restarts them", async () => {
  const m = Machine.create(config(POST_LOOP, [], 1));
  m.start();
  const outs = () => m.vcpuCounters.reduce((n, c) => n + c.pioOut, 0);
  while (outs() < 100) await sleep(10);
  await m.pause();
  assert.equal(m.paused, true);
  const atPause = outs();
  await sleep(200);
  assert.equal(outs(), atPause);
  m.resume();
  assert.equal(m.paused, false);
  while (outs() <= atPause) await sleep(10);
  await m.pause();
  assert.deepEqual(await m.stop(), { kind: "stopped" }, "a paused machine stops");
  assert.equal(m.paused, false);
  await assert.rejects(m.pause(), /has ended/);
});

// Polls the i8042 and copies every keyboard byte to COM1:
//   E4 64        in al, 0x64        A8 01  test al, 1 (output buffer full)
//   74 FA        jz back            E4 60  in al, 0x60
//   66 BA F8 03  mov dx, 0x3f8      EE     out dx, al      EB F1  jmp to the start
const KEYBOARD_ECHO = [
  0xe4,
  0x64,
  0xa8,
  0x01,
  0x74,
  0xfa,
  0xe4,
  0x60,
  0x66,
  0xba,
  0xf8,
  0x03,
  0xee,
  0xeb,
  0xf1,
];

kvmTest("Machine.sendCtrlAltDel puts Ctrl-Alt-Del on the guest's keyboard port", async () => {
  const out: number[] = [];
  const m = Machine.create(config(KEYBOARD_ECHO, out, 1));
  m.start();
  assert.equal(m.sendCtrlAltDel(), true);
  const end = Date.now() + 20_000;
  while (out.length < CTRL_ALT_DEL_SET1.length && Date.now() < end) await sleep(10);
  assert.deepEqual(out, [...CTRL_ALT_DEL_SET1]);
  await m.stop();
});
