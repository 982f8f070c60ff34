import assert from "node:assert/strict";
import { HAS_KVM, PayloadVm, Recorder } from "../../tests/support/payload_vm.ts";

const kvmTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAS_KVM, fn, sanitizeResources: false, sanitizeOps: false });

// x86 encodings used below (32-bit protected mode):
//   66 BA iw       mov dx, imm16         B0 ib        mov al, imm8
//   EE             out dx, al            F4           hlt
//   A3 id          mov [moffs32], eax    A1 id        mov eax, [moffs32]
//   B8 id          mov eax, imm32        0F 0B        ud2
//   EB FE          jmp $                 EC           in al, dx

const outChar = (c: string) => [0xb0, c.charCodeAt(0), 0xee];

kvmTest("PIO: serial bytes reach the port device, then HLT ends the vCPU", async () => {
  await using p = new PayloadVm();
  const port = new Recorder();
  p.pio.insert(0x3f8, 8, port, "uart");
  const t = p.addVcpu(0x1000, [0x66, 0xba, 0xf8, 0x03, ...outChar("H"), ...outChar("i"), 0xf4]);
  t.start();
  assert.deepEqual(await t.stopped, { kind: "hlt" });
  assert.equal(String.fromCharCode(...port.writes.map((w) => w.bytes[0])), "Hi");
  assert.ok(port.writes.every((w) => w.offset === 0));
  assert.equal(t.counters.pioOut, 2);
});

kvmTest("PIO IN returns what the device answers; an unclaimed port reads as 0xff", async () => {
  await using p = new PayloadVm();
  p.pio.insert(0x60, 1, new Recorder(() => 0x5a), "dev");
  // in al,0x60 ; mov [0x2000],al ; in al,0x61 ; mov [0x2001],al ; hlt
  const t = p.addVcpu(0x1000, [
    0xe4,
    0x60,
    0xa2,
    0x00,
    0x20,
    0,
    0,
    0xe4,
    0x61,
    0xa2,
    0x01,
    0x20,
    0,
    0,
    0xf4,
  ]);
  t.start();
  assert.equal((await t.stopped).kind, "hlt");
  assert.equal(p.memory.readU8(0x2000), 0x5a);
  assert.equal(p.memory.readU8(0x2001), 0xff);
  assert.equal(t.counters.unhandled, 1);
});

kvmTest("MMIO: 32-bit write and read exits reach the MMIO bus with address and size", async () => {
  await using p = new PayloadVm();
  const dev = new Recorder((off, size) => (off === 4 && size === 4 ? 0xcafe_f00d : 0));
  p.mmio.insert(0xd000_0000, 0x1000, dev, "mmio");
  // mov eax,0x12345678 ; mov [0xd0000000],eax ; mov eax,[0xd0000004] ; mov [0x2000],eax ; hlt
  const t = p.addVcpu(0x1000, [
    0xb8,
    0x78,
    0x56,
    0x34,
    0x12,
    0xa3,
    0x00,
    0x00,
    0x00,
    0xd0,
    0xa1,
    0x04,
    0x00,
    0x00,
    0xd0,
    0xa3,
    0x00,
    0x20,
    0x00,
    0x00,
    0xf4,
  ]);
  t.start();
  assert.equal((await t.stopped).kind, "hlt");
  assert.deepEqual(dev.writes, [{ offset: 0, bytes: [0x78, 0x56, 0x34, 0x12] }]);
  assert.equal(p.memory.readU32(0x2000), 0xcafe_f00d);
  assert.equal(t.counters.mmioRead, 1);
  assert.equal(t.counters.mmioWrite, 1);
});

kvmTest("an exception with no IDT triple-faults: KVM_EXIT_SHUTDOWN", async () => {
  await using p = new PayloadVm();
  const t = p.addVcpu(0x1000, [0x0f, 0x0b]); // ud2
  t.start();
  assert.deepEqual(await t.stopped, { kind: "shutdown" });
});

kvmTest("two vCPUs run at once, each in its own Worker", async () => {
  await using p = new PayloadVm();
  const port = new Recorder();
  p.pio.insert(0x3f8, 1, port, "uart");
  const code = (c: string) => [0x66, 0xba, 0xf8, 0x03, ...outChar(c), 0xf4];
  const a = p.addVcpu(0x1000, code("A"));
  const b = p.addVcpu(0x1100, code("B"));
  a.start();
  b.start();
  const [ra, rb] = await Promise.all([a.stopped, b.stopped]);
  assert.equal(ra.kind, "hlt");
  assert.equal(rb.kind, "hlt");
  assert.deepEqual(port.writes.map((w) => String.fromCharCode(w.bytes[0])).sort(), ["A", "B"]);
});

kvmTest("a spinning vCPU is kicked out of KVM_RUN by requestStop", async () => {
  await using p = new PayloadVm();
  const t = p.addVcpu(0x1000, [0xeb, 0xfe]); // jmp $
  t.start();
  await new Promise((r) => setTimeout(r, 100));
  t.requestStop();
  assert.deepEqual(await t.stopped, { kind: "requested" });
});

kvmTest("a vCPU stopped while waiting for a device reply ends cleanly", async () => {
  await using p = new PayloadVm();
  let stop = () => {};
  // The device asks for the stop in the middle of the access, as the i8042 reset does.
  p.pio.insert(0x64, 1, { read: () => {}, write: () => stop() }, "reset");
  const t = p.addVcpu(0x1000, [0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]); // mov al,0xfe ; out 0x64,al ; jmp $
  stop = () => t.requestStop();
  t.start();
  assert.deepEqual(await t.stopped, { kind: "requested" });
});
