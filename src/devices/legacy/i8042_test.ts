import assert from "node:assert/strict";
import { CTRL_ALT_DEL_SET1, CTRL_ALT_DEL_SET2, I8042 } from "./i8042.ts";
import { I8042_CMD, I8042_CTR, I8042_REG, I8042_STATUS } from "./i8042_regs.ts";
import { PS2_CMD, PS2_REPLY } from "./ps2_keyboard.ts";

function controller() {
  const events = { resets: 0, irqs: 0 };
  const dev = new I8042({ onReset: () => events.resets++, interrupt: () => events.irqs++ });
  const one = new Uint8Array(1);
  const status = () => {
    dev.read(I8042_REG.COMMAND, one);
    return one[0];
  };
  const data = () => {
    dev.read(I8042_REG.DATA, one);
    return one[0];
  };
  const command = (v: number) => dev.write(I8042_REG.COMMAND, new Uint8Array([v]));
  const send = (v: number) => dev.write(I8042_REG.DATA, new Uint8Array([v]));
  /** Everything in the output buffer, as Linux's i8042_flush reads it. */
  const drain = () => {
    const got: number[] = [];
    while (status() & I8042_STATUS.OBF) got.push(data());
    return got;
  };
  /** Linux's i8042_command: a command, its parameter bytes, then polled reply bytes. */
  const cmd = (c: number, params: number[] = [], replies = 0) => {
    command(c);
    for (const p of params) send(p);
    const got: number[] = [];
    for (let i = 0; i < replies; i++) {
      assert.ok(status() & I8042_STATUS.OBF, `command 0x${c.toString(16)} answered`);
      got.push(data());
    }
    return got;
  };
  return { dev, events, status, data, command, send, drain, cmd };
}

Deno.test("i8042: idle status says nothing to read, input buffer empty; data reads 0", () => {
  const { status, data } = controller();
  const s = status();
  assert.equal(s & (I8042_STATUS.OBF | I8042_STATUS.IBF), 0);
  assert.equal(s & I8042_STATUS.KEYLOCK, I8042_STATUS.KEYLOCK, 'no "keylock active" warning');
  assert.equal(data(), 0);
});

Deno.test("i8042: command 0xFE pulses the reset line, other commands do not", () => {
  const { events, command } = controller();
  for (const c of [0x00, 0xa5, 0xaa, 0xff, 0xef]) command(c);
  assert.equal(events.resets, 0);
  command(I8042_CMD.RESET);
  assert.equal(events.resets, 1);
});

Deno.test("i8042: writing the output port with bit 0 clear resets too", () => {
  const { events, cmd } = controller();
  cmd(I8042_CMD.WRITE_OUTPUT_PORT, [0xdf]); // A20 on, reset line inactive
  assert.equal(events.resets, 0);
  assert.deepEqual(cmd(I8042_CMD.READ_OUTPUT_PORT, [], 1), [0xdf]);
  cmd(I8042_CMD.WRITE_OUTPUT_PORT, [0xde]);
  assert.equal(events.resets, 1);
});

Deno.test("i8042: Linux's controller init reads a stable CTR and writes it back", () => {
  const { cmd, status, drain } = controller();
  const [a] = cmd(I8042_CMD.READ_CTR, [], 1);
  const [b] = cmd(I8042_CMD.READ_CTR, [], 1);
  assert.equal(a, b);
  assert.equal(a & I8042_CTR.XLATE, I8042_CTR.XLATE, "translated, as a BIOS leaves it");
  const ctr = (a | I8042_CTR.KBDDIS) & ~I8042_CTR.KBDINT;
  cmd(I8042_CMD.WRITE_CTR, [ctr]);
  assert.deepEqual(cmd(I8042_CMD.READ_CTR, [], 1), [ctr]);
  assert.equal(status() & I8042_STATUS.CMD, I8042_STATUS.CMD);
  assert.deepEqual(drain(), []);
  assert.deepEqual(cmd(I8042_CMD.SELF_TEST, [], 1), [0x55]);
  assert.deepEqual(cmd(I8042_CMD.KBD_TEST, [], 1), [0x00]);
  cmd(0x61, [0x99]); // controller RAM: swallowed, not sent to the keyboard
  assert.deepEqual(drain(), []);
});

Deno.test("i8042: the aux port probe fails at once and leaves nothing behind", () => {
  const { cmd, status, drain, events, data } = controller();
  // i8042_check_aux: the loop test must not echo 0x5a from the aux port...
  cmd(I8042_CMD.AUX_LOOP, [0x5a]);
  const s = status();
  assert.ok(s & I8042_STATUS.OBF, "answered without a timeout");
  assert.ok(s & I8042_STATUS.AUXDATA, "from the aux side, so Linux reads it");
  assert.notEqual(data(), 0x5a);
  assert.equal(events.irqs, 0, "aux data never raises IRQ 1");
  // ...and the interface test must report an error other than 0xfa/0xff.
  const [test] = cmd(I8042_CMD.AUX_TEST, [], 1);
  assert.ok(test !== 0 && test !== 0xfa && test !== 0xff);
  assert.deepEqual(drain(), []);
});

Deno.test("i8042: the keyboard answers atkbd's probe through the translating controller", () => {
  const { cmd, send, drain, events } = controller();
  assert.deepEqual((send(PS2_CMD.GET_ID), drain()), [PS2_REPLY.ACK, 0xab, 0x41]);
  assert.ok(events.irqs >= 1, "keyboard bytes interrupt");
  assert.deepEqual((send(PS2_CMD.SET_LEDS), drain()), [PS2_REPLY.ACK]);
  assert.deepEqual((send(0x02), drain()), [PS2_REPLY.ACK]);
  assert.deepEqual((send(PS2_CMD.RESET), drain()), [PS2_REPLY.ACK, PS2_REPLY.BAT_OK]);
  assert.deepEqual((send(PS2_CMD.ECHO), drain()), [PS2_REPLY.ECHO]);
  assert.deepEqual((send(0x12), drain()), [PS2_REPLY.RESEND]);
  assert.deepEqual((send(PS2_CMD.RESEND), drain()), [PS2_REPLY.RESEND]);
  // Without translation the ID arrives as the keyboard sends it.
  const [ctr] = cmd(I8042_CMD.READ_CTR, [], 1);
  cmd(I8042_CMD.WRITE_CTR, [ctr & ~I8042_CTR.XLATE]);
  assert.deepEqual((send(PS2_CMD.GET_ID), drain()), [PS2_REPLY.ACK, 0xab, 0x83]);
  assert.deepEqual((send(PS2_CMD.SCANCODE_SET), drain()), [PS2_REPLY.ACK]);
  assert.deepEqual((send(0), drain()), [PS2_REPLY.ACK, 2]);
});

Deno.test("i8042: Ctrl-Alt-Del arrives as set 1 scancodes, one IRQ 1 edge per byte", () => {
  const { dev, events, status, data } = controller();
  assert.equal(dev.sendCtrlAltDel(), true);
  assert.equal(events.irqs, 1);
  const codes: number[] = [];
  while (status() & I8042_STATUS.OBF) codes.push(data());
  assert.deepEqual(codes, CTRL_ALT_DEL_SET1);
  assert.equal(events.irqs, CTRL_ALT_DEL_SET1.length, "each byte loaded behind a read is an edge");
  assert.equal(data(), 0);
});

Deno.test("i8042: set 2 scancodes when the guest turned translation off", () => {
  const { dev, cmd, drain } = controller();
  const [ctr] = cmd(I8042_CMD.READ_CTR, [], 1);
  cmd(I8042_CMD.WRITE_CTR, [ctr & ~I8042_CTR.XLATE]);
  dev.sendCtrlAltDel();
  assert.deepEqual(drain(), CTRL_ALT_DEL_SET2);
});

Deno.test("i8042: keys wait while the keyboard port is disabled, IRQ needs KBDINT", () => {
  const { dev, events, cmd, drain, status } = controller();
  const [ctr] = cmd(I8042_CMD.READ_CTR, [], 1);
  cmd(I8042_CMD.WRITE_CTR, [(ctr | I8042_CTR.KBDDIS) & ~I8042_CTR.KBDINT]);
  const before = events.irqs;
  assert.equal(dev.sendCtrlAltDel(), true);
  assert.equal(status() & I8042_STATUS.OBF, 0, "held in the keyboard");
  cmd(I8042_CMD.KBD_ENABLE);
  assert.equal(events.irqs, before, "KBDINT is off");
  assert.equal(status() & I8042_STATUS.OBF, I8042_STATUS.OBF);
  cmd(I8042_CMD.WRITE_CTR, [ctr]);
  assert.equal(events.irqs, before + 1, "enabling KBDINT with data waiting is an edge");
  assert.deepEqual(drain(), CTRL_ALT_DEL_SET1);
});

Deno.test("i8042: Ctrl-Alt-Del is refused when nobody reads or scanning is off", () => {
  const a = controller();
  assert.equal(a.dev.sendCtrlAltDel(), true);
  assert.equal(a.dev.sendCtrlAltDel(), true);
  assert.equal(a.dev.sendCtrlAltDel(), false, "the keyboard's 16-byte buffer is full");
  const b = controller();
  b.send(PS2_CMD.DISABLE);
  assert.deepEqual(b.drain(), [PS2_REPLY.ACK]);
  assert.equal(b.dev.sendCtrlAltDel(), false);
  b.send(PS2_CMD.ENABLE);
  b.drain();
  assert.equal(b.dev.sendCtrlAltDel(), true);
});

Deno.test("i8042: a controller reply goes out before queued keyboard bytes", () => {
  const { dev, cmd, drain } = controller();
  dev.sendCtrlAltDel();
  assert.deepEqual(cmd(I8042_CMD.SELF_TEST, [], 1), [0x55]);
  assert.deepEqual(drain(), CTRL_ALT_DEL_SET1);
});

Deno.test("i8042: offsets other than 0 and 4 read as nothing", () => {
  const { dev } = controller();
  const d = new Uint8Array(1);
  dev.read(1, d);
  assert.equal(d[0], 0xff);
});
