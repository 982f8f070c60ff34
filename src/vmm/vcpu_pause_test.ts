import assert from "node:assert/strict";
import { HAS_KVM, PayloadVm } from "../../tests/support/payload_vm.ts";

const kvmTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_KVM, fn, sanitizeResources: false, sanitizeOps: false });

// A counter kept in a register and stored to memory on every turn (32-bit protected mode):
//   40             inc eax
//   A3 00 20 00 00 mov [0x2000], eax
//   EB F8          jmp back to inc
// If pause lost the vCPU's registers, the stored value would restart from 0 after resume.
const COUNTER = [0x40, 0xa3, 0x00, 0x20, 0x00, 0x00, 0xeb, 0xf8];
const AT = 0x2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

kvmTest("pause parks a spinning vCPU, resume continues from the same register state", async () => {
  await using p = new PayloadVm();
  const t = p.addVcpu(0x1000, COUNTER);
  const count = () => p.memory.readU32(AT);
  t.start();
  await until("the counter to run", () => count() > 1000);

  await t.pause();
  assert.equal(t.parked, true);
  const atPause = count();
  await sleep(200);
  assert.equal(count(), atPause, "a paused vCPU must not run");
  await t.pause(); // pausing a paused vCPU is a no-op
  assert.equal(count(), atPause);

  t.resume();
  await until("the counter to move after resume", () => count() !== atPause);
  // Sampled right after resume the counter is just past where it stopped, never restarted.
  const early = count();
  assert.ok(early > atPause, `after resume ${early}, at pause ${atPause}`);
  await until("the counter to run on", () => count() > early + 1000);
  assert.equal(t.parked, false);

  // Several pause/resume cycles: the count only ever grows.
  let last = count();
  for (let i = 0; i < 5; i++) {
    await t.pause();
    const c = count();
    assert.ok(c >= last, `cycle ${i}: ${c} < ${last}`);
    last = c;
    t.resume();
    await until(`cycle ${i} to run`, () => count() > c);
  }
});

kvmTest("a paused vCPU can be stopped: requestStop wakes it and it ends as requested", async () => {
  await using p = new PayloadVm();
  const t = p.addVcpu(0x1000, COUNTER);
  t.start();
  await until("the counter to run", () => p.memory.readU32(AT) > 0);
  await t.pause();
  t.requestStop();
  assert.deepEqual(await t.stopped, { kind: "requested" });
  assert.equal(t.parked, false);
  t.resume(); // after the end: ignored
  await t.pause(); // resolves at once
});

kvmTest("pause before the Worker has started parks it on its first loop turn", async () => {
  await using p = new PayloadVm();
  const t = p.addVcpu(0x1000, COUNTER);
  t.start();
  await t.pause();
  assert.equal(t.parked, true);
  await sleep(100);
  assert.equal(p.memory.readU32(AT), 0, "the vCPU never ran");
  t.resume();
  await until("the counter to start", () => p.memory.readU32(AT) > 0);
});

kvmTest("pause of two vCPUs resolves once both are parked", async () => {
  await using p = new PayloadVm();
  // The second vCPU counts at 0x2004: mov [0x2004], eax.
  const a = p.addVcpu(0x1000, COUNTER);
  const b = p.addVcpu(0x1100, [0x40, 0xa3, 0x04, 0x20, 0x00, 0x00, 0xeb, 0xf8]);
  a.start();
  b.start();
  await until("both to run", () => p.memory.readU32(AT) > 0 && p.memory.readU32(AT + 4) > 0);
  await Promise.all([a.pause(), b.pause()]);
  const [ca, cb] = [p.memory.readU32(AT), p.memory.readU32(AT + 4)];
  await sleep(150);
  assert.deepEqual([p.memory.readU32(AT), p.memory.readU32(AT + 4)], [ca, cb]);
  a.resume();
  b.resume();
  await until(
    "both to run again",
    () => p.memory.readU32(AT) > ca && p.memory.readU32(AT + 4) > cb,
  );
});
