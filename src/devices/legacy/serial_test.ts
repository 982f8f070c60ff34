import assert from "node:assert/strict";
import { IER, IIR, LCR_DLAB, LSR, MCR, MSR, RX_FIFO_SIZE, Serial, UART } from "./serial.ts";

function uart() {
  const out: number[] = [];
  const irq = { n: 0 };
  const s = new Serial({ output: (b) => out.push(...b), interrupt: () => irq.n++ });
  const r = (off: number) => {
    const d = new Uint8Array(1);
    s.read(off, d);
    return d[0];
  };
  const w = (off: number, v: number) => s.write(off, new Uint8Array([v]));
  return { s, out, irq, r, w };
}

Deno.test("divisor latch round trip under DLAB", () => {
  const { r, w } = uart();
  w(UART.LCR, LCR_DLAB | 3);
  w(UART.DATA, 0x01);
  w(UART.IER, 0x02);
  assert.equal(r(UART.DATA), 0x01);
  assert.equal(r(UART.IER), 0x02);
  w(UART.LCR, 3);
  assert.equal(r(UART.IER), 0); // IER itself untouched
});

Deno.test("Linux 8250 autoconfig sees a 16550A", () => {
  const { r, w } = uart();
  // Scratch register test.
  w(UART.SCR, 0xa5);
  assert.equal(r(UART.SCR), 0xa5);
  w(UART.SCR, 0x5a);
  assert.equal(r(UART.SCR), 0x5a);
  // IER test: write 0, read 0; write 0x0f, read 0x0f.
  w(UART.IER, 0);
  assert.equal(r(UART.IER) & 0x0f, 0);
  w(UART.IER, 0x0f);
  assert.equal(r(UART.IER) & 0x0f, 0x0f);
  w(UART.IER, 0);
  // Loopback test: MCR = LOOP|0x0a -> MSR status bits 0x90 (DCD|CTS).
  w(UART.MCR, MCR.LOOP | 0x0a);
  assert.equal(r(UART.MSR) & 0xf0, 0x90);
  w(UART.MCR, 0);
  // FIFO detection: enable the FIFO, IIR bits 6-7 both set means 16550A.
  w(UART.IIR_FCR, 0x01);
  assert.equal(r(UART.IIR_FCR) >> 6, 3);
  w(UART.IIR_FCR, 0);
  assert.equal(r(UART.IIR_FCR) >> 6, 0);
});

Deno.test("THR writes reach the output; THRI enable raises the interrupt", () => {
  const { out, irq, r, w } = uart();
  w(UART.DATA, 0x41);
  assert.deepEqual(out, [0x41]);
  assert.equal(irq.n, 0); // THRI disabled
  w(UART.IER, IER.THRI);
  assert.equal(irq.n, 1);
  assert.equal(r(UART.IIR_FCR) & 0x0f, IIR.THRI);
  assert.equal(r(UART.IIR_FCR) & 0x0f, IIR.NONE); // reading IIR cleared THRE
  w(UART.DATA, 0x42);
  assert.equal(irq.n, 2);
  assert.ok(r(UART.LSR) & LSR.THRE);
});

Deno.test("IIR priority: received data outranks THRE", () => {
  const { s, r, w } = uart();
  w(UART.IER, IER.THRI | IER.RDI);
  s.enqueueInput(new Uint8Array([0x31]));
  assert.equal(r(UART.IIR_FCR) & 0x0f, IIR.RDI);
  assert.equal(r(UART.DATA), 0x31);
  assert.equal(r(UART.IIR_FCR) & 0x0f, IIR.THRI);
});

Deno.test("receive: RDI interrupt, DR clears after the last byte, FIFO back-pressure", () => {
  const { s, irq, r, w } = uart();
  w(UART.IER, IER.RDI);
  assert.equal(s.enqueueInput(new Uint8Array(100).fill(0x61)), RX_FIFO_SIZE);
  assert.ok(irq.n >= 1);
  let n = 0;
  while (r(UART.LSR) & LSR.DR) {
    r(UART.DATA);
    n++;
  }
  assert.equal(n, RX_FIFO_SIZE);
  assert.equal(s.enqueueInput(new Uint8Array([1, 2])), 2);
});

Deno.test("loopback: transmitted bytes come back as input and stay off the output", () => {
  const { out, r, w } = uart();
  w(UART.MCR, MCR.LOOP);
  w(UART.DATA, 0x55);
  assert.deepEqual(out, []);
  assert.ok(r(UART.LSR) & LSR.DR);
  assert.equal(r(UART.DATA), 0x55);
  assert.equal(r(UART.MSR) & MSR.CTS, 0);
});
