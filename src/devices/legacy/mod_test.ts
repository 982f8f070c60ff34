import assert from "node:assert/strict";
import { COM1_PORT } from "../../memory/layout.ts";
import { IoBus } from "../bus.ts";
import { I8042_STATUS } from "./i8042_regs.ts";
import { registerLegacyDevices } from "./mod.ts";
import { UART } from "./uart_regs.ts";

function machine() {
  const pio = new IoBus();
  const seen = { out: [] as number[], resets: 0, kbdIrqs: 0 };
  const devices = registerLegacyDevices(pio, {
    serialOutput: (b) => seen.out.push(...b),
    serialInterrupt: () => {},
    onReset: () => seen.resets++,
    keyboardInterrupt: () => seen.kbdIrqs++,
  });
  const r = (port: number) => {
    const d = new Uint8Array(1);
    return pio.read(port, d) ? d[0] : undefined;
  };
  const w = (port: number, v: number) => pio.write(port, new Uint8Array([v]));
  return { pio, seen, devices, r, w };
}

Deno.test("legacy: the expected port ranges, nothing more", () => {
  const { pio } = machine();
  assert.deepEqual(pio.list().map((x) => [x.name, x.base, x.length]), [
    ["i8042 data", 0x60, 1],
    ["i8042 command", 0x64, 1],
    ["post codes", 0x80, 1],
    ["dma page 0 (absent)", 0x87, 1],
    ["com4 (absent)", 0x2e8, 8],
    ["com2 (absent)", 0x2f8, 8],
    ["com3 (absent)", 0x3e8, 8],
    ["com1", COM1_PORT, 8],
  ]);
});

Deno.test("legacy: COM1 answers at 0x3f8-0x3ff and transmits", () => {
  const { devices, seen, r, w } = machine();
  w(COM1_PORT + UART.SCR, 0x5a);
  assert.equal(r(COM1_PORT + UART.SCR), 0x5a);
  w(COM1_PORT, 0x48);
  assert.deepEqual(seen.out, [0x48]);
  assert.equal(devices.serial.bytesOut, 1);
});

Deno.test("legacy: the i8042 answers at 0x60 and 0x64 only, and resets on 0xfe", () => {
  const { devices, seen, r, w } = machine();
  assert.equal(r(0x64)! & (I8042_STATUS.OBF | I8042_STATUS.IBF), 0);
  assert.equal(r(0x60), 0);
  for (const port of [0x61, 0x62, 0x63]) assert.equal(r(port), undefined);
  devices.i8042.sendCtrlAltDel();
  assert.equal(seen.kbdIrqs, 1, "IRQ 1 is wired");
  assert.equal(r(0x60), 0x1d);
  w(0x64, 0xfe);
  assert.equal(seen.resets, 1);
});

Deno.test("legacy: absent COM2-4 and DMA page read all ones; POST writes are swallowed", () => {
  const { devices, r, w } = machine();
  assert.equal(r(0x87), 0xff);
  for (const base of [0x2f8, 0x3e8, 0x2e8]) {
    for (let i = 0; i < 8; i++) assert.equal(r(base + i), 0xff);
    assert.equal(w(base, 0x41), true);
  }
  assert.equal(w(0x80, 0x12), true);
  assert.equal(devices.debugPort.lastCode, 0x12);
});

Deno.test("legacy: registering twice on one bus is refused", () => {
  const { pio } = machine();
  assert.throws(
    () =>
      registerLegacyDevices(pio, {
        serialOutput: () => {},
        serialInterrupt: () => {},
        onReset: () => {},
      }),
    /overlaps com1/,
  );
});
