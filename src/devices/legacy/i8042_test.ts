import assert from "node:assert/strict";
import { IoBus } from "../bus.ts";
import { I8042 } from "./i8042.ts";
import { registerLegacyDevices } from "./mod.ts";

Deno.test("i8042: 0xFE on the command port resets; status reads idle", () => {
  let resets = 0;
  const kbd = new I8042({ onReset: () => resets++ });
  const d = new Uint8Array(1);
  kbd.read(4, d);
  assert.equal(d[0] & 1, 0); // output buffer empty
  kbd.write(4, new Uint8Array([0xaa])); // self-test command: ignored
  assert.equal(resets, 0);
  kbd.write(4, new Uint8Array([0xfe]));
  assert.equal(resets, 1);
});

Deno.test("i8042: Ctrl-Alt-Del is queued as scancodes with IRQ 1", () => {
  let irqs = 0;
  const kbd = new I8042({ onReset: () => {}, interrupt: () => irqs++ });
  kbd.sendCtrlAltDel();
  const d = new Uint8Array(1);
  const codes: number[] = [];
  for (kbd.read(4, d); d[0] & 1; kbd.read(4, d)) {
    kbd.read(0, d);
    codes.push(d[0]);
  }
  assert.deepEqual(codes.slice(0, 4), [0x1d, 0x38, 0xe0, 0x53]);
  assert.ok(irqs >= 1);
});

Deno.test("legacy devices: COM1, i8042, POST port and empty COM2", () => {
  const pio = new IoBus();
  const out: number[] = [];
  let resets = 0;
  registerLegacyDevices(pio, {
    serialOutput: (b) => out.push(...b),
    serialInterrupt: () => {},
    onReset: () => resets++,
  });
  pio.write(0x3f8, new Uint8Array([0x48]));
  pio.write(0x64, new Uint8Array([0xfe]));
  const d = new Uint8Array(1);
  assert.ok(pio.read(0x2f8 + 5, d));
  assert.equal(d[0], 0xff);
  assert.ok(pio.write(0x80, new Uint8Array([1])));
  assert.deepEqual(out, [0x48]);
  assert.equal(resets, 1);
});
