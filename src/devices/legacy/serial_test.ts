import assert from "node:assert/strict";
import { LOOPBACK_FIFO_SIZE, RX_FIFO_SIZE } from "./serial.ts";
import {
  fifoSize,
  linuxAutoconfig,
  LinuxDriver,
  linuxStartup,
  uartHarness,
} from "./serial_test_support.ts";
import { FCR, IER, IIR, LCR_DLAB, LSR, MCR, MSR, UART } from "./uart_regs.ts";

const source = (iir: number) => iir & 0x0f;
const flushMicrotasks = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("serial: reset state is idle with an empty transmitter", () => {
  const { r } = uartHarness();
  assert.equal(r(UART.IER), 0);
  assert.equal(r(UART.IIR_FCR), IIR.NO_INT);
  assert.equal(r(UART.LCR), 0);
  assert.equal(r(UART.MCR), 0);
  assert.equal(r(UART.LSR), LSR.THRE | LSR.TEMT);
  assert.equal(r(UART.MSR), MSR.DCD | MSR.DSR | MSR.CTS);
});

Deno.test("serial: divisor latch round trip under DLAB, IER and RBR/THR untouched", () => {
  const { serial, r, w, out } = uartHarness();
  w(UART.IER, IER.RDI);
  w(UART.LCR, LCR_DLAB | 0x03);
  w(UART.DATA, 0x34);
  w(UART.IER, 0x12);
  assert.equal(r(UART.DATA), 0x34);
  assert.equal(r(UART.IER), 0x12);
  assert.equal(serial.divisor, 0x1234);
  assert.deepEqual(out, []); // the DLL write did not transmit
  w(UART.LCR, 0x03);
  assert.equal(r(UART.IER), IER.RDI);
  assert.equal(r(UART.LCR), 0x03);
  w(UART.LCR, LCR_DLAB);
  assert.equal(r(UART.DATA) | (r(UART.IER) << 8), 0x1234);
});

Deno.test("serial: scratch register keeps any byte", () => {
  const { r, w } = uartHarness();
  for (const v of [0x00, 0x55, 0xaa, 0xff]) {
    w(UART.SCR, v);
    assert.equal(r(UART.SCR), v);
  }
});

Deno.test("serial: Linux's autoconfig detects a 16550A, with and without the variant probes", () => {
  const h = uartHarness();
  assert.equal(linuxAutoconfig(h, false), "16550A");
  assert.equal(linuxAutoconfig(h, true), "16550A");
  assert.deepEqual(h.out, [], "probe traffic must not reach the console");
  assert.equal(h.irqs.count, 0, "probing with OUT2 clear raises no IRQ");
  assert.equal(h.r(UART.LSR) & LSR.DR, 0, "the loopback bytes are gone");
  assert.equal(h.r(UART.MCR), 0);
});

Deno.test("serial: the FIFO-size probe counts the chip's 16 bytes, and keeps the divisor", () => {
  const h = uartHarness();
  h.w(UART.LCR, LCR_DLAB);
  h.w(UART.DATA, 0x0c);
  h.w(UART.LCR, 0x03);
  assert.equal(fifoSize(h), LOOPBACK_FIFO_SIZE);
  assert.equal(h.serial.divisor, 0x0c);
  assert.equal(h.r(UART.LCR), 0x03);
});

Deno.test("serial: Linux's startup tests find no THRE or TXEN bug", () => {
  const h = uartHarness();
  linuxAutoconfig(h);
  assert.deepEqual(linuxStartup(h), { bugThre: false, bugTxen: false, lsrSafety: false });
  assert.equal(h.r(UART.IIR_FCR) & IIR.FIFO_ENABLED, IIR.FIFO_ENABLED);
  assert.equal(h.serial.divisor, 1);
});

Deno.test("serial: a THR write reaches the output at once and is counted", () => {
  const { serial, out, w, r } = uartHarness();
  w(UART.DATA, 0x48);
  w(UART.DATA, 0x69);
  assert.deepEqual(out, [0x48, 0x69]);
  assert.equal(serial.bytesOut, 2);
  assert.equal(r(UART.LSR) & (LSR.THRE | LSR.TEMT), LSR.THRE | LSR.TEMT);
});

Deno.test("serial: enabling THRI raises the interrupt; each THR write raises it again", () => {
  const { serial, irqs, r, w } = uartHarness();
  w(UART.MCR, MCR.OUT2);
  w(UART.DATA, 0x41);
  assert.equal(irqs.count, 0, "THRI disabled");
  w(UART.IER, IER.THRI);
  assert.equal(irqs.count, 1);
  assert.equal(source(r(UART.IIR_FCR)), IIR.THRI);
  assert.equal(source(r(UART.IIR_FCR)), IIR.NO_INT, "reading IIR acknowledged THRE");
  w(UART.DATA, 0x42);
  assert.equal(irqs.count, 2);
  w(UART.DATA, 0x43);
  assert.equal(irqs.count, 3, "a new edge per write, even unacknowledged");
  w(UART.IER, IER.THRI);
  assert.equal(irqs.count, 3, "rewriting THRI unchanged is no new event");
  w(UART.IER, 0);
  w(UART.IER, IER.THRI);
  assert.equal(irqs.count, 4, "0 -> 1 again raises it again");
  assert.equal(serial.interrupts, 4);
});

Deno.test("serial: OUT2 gates the IRQ line and loopback cuts it, IIR still reports", () => {
  const { irqs, r, w } = uartHarness();
  w(UART.IER, IER.THRI);
  assert.equal(irqs.count, 0, "OUT2 clear");
  assert.equal(source(r(UART.IIR_FCR)), IIR.THRI, "but IIR shows the source");
  w(UART.IER, 0);
  w(UART.IER, IER.THRI);
  w(UART.MCR, MCR.OUT2);
  assert.equal(irqs.count, 1, "raising OUT2 with a source pending is an edge");
  w(UART.MCR, MCR.OUT2 | MCR.LOOP);
  w(UART.DATA, 0x00);
  assert.equal(irqs.count, 1, "no IRQ in loopback");
});

Deno.test("serial: IIR priority is line status > data > THRE > modem status", () => {
  const { r, w } = uartHarness();
  w(UART.MCR, MCR.LOOP);
  // 17 bytes into a 16-byte loopback FIFO: data ready and an overrun.
  for (let i = 0; i <= LOOPBACK_FIFO_SIZE; i++) w(UART.DATA, i);
  w(UART.MCR, MCR.LOOP | MCR.RTS); // CTS follows RTS: a modem status change
  w(UART.IER, IER.RLSI | IER.RDI | IER.THRI | IER.MSI);
  assert.equal(source(r(UART.IIR_FCR)), IIR.RLSI);
  assert.equal(r(UART.LSR) & (LSR.OE | LSR.DR), LSR.OE | LSR.DR);
  assert.equal(source(r(UART.IIR_FCR)), IIR.RDI, "reading LSR cleared the overrun");
  assert.equal(source(r(UART.IIR_FCR)), IIR.RDI, "an IIR read does not clear data ready");
  const got: number[] = [];
  while (r(UART.LSR) & LSR.DR) got.push(r(UART.DATA));
  assert.deepEqual(got, [...Array(LOOPBACK_FIFO_SIZE).keys()]);
  assert.equal(source(r(UART.IIR_FCR)), IIR.THRI);
  assert.equal(source(r(UART.IIR_FCR)), IIR.MSI, "THRE cleared by the read that reported it");
  assert.equal(r(UART.MSR) & (MSR.DCTS | MSR.CTS), MSR.DCTS | MSR.CTS);
  assert.equal(source(r(UART.IIR_FCR)), IIR.NO_INT, "reading MSR cleared the deltas");
});

Deno.test("serial: an IIR read naming another source leaves THRE pending", () => {
  const { serial, r, w } = uartHarness();
  w(UART.IER, IER.RDI | IER.THRI);
  serial.enqueueInput(new Uint8Array([0x31]));
  assert.equal(source(r(UART.IIR_FCR)), IIR.RDI);
  assert.equal(r(UART.DATA), 0x31);
  assert.equal(source(r(UART.IIR_FCR)), IIR.THRI);
  assert.equal(source(r(UART.IIR_FCR)), IIR.NO_INT);
});

Deno.test("serial: IIR bits 6-7 follow FCR's enable bit", () => {
  const { r, w } = uartHarness();
  assert.equal(r(UART.IIR_FCR), 0x01);
  w(UART.IIR_FCR, FCR.ENABLE);
  assert.equal(r(UART.IIR_FCR), 0xc1);
  w(UART.IIR_FCR, 0);
  assert.equal(r(UART.IIR_FCR), 0x01);
});

Deno.test("serial: received data raises RDI once per arrival while idle; DR clears after the last byte", () => {
  const { serial, irqs, r, w } = uartHarness();
  w(UART.MCR, MCR.OUT2);
  w(UART.IER, IER.RDI);
  assert.equal(irqs.count, 0);
  assert.equal(serial.enqueueInput(new Uint8Array([0x61, 0x62])), 2);
  assert.equal(irqs.count, 1);
  serial.enqueueInput(new Uint8Array([0x63]));
  assert.equal(irqs.count, 1, "the line is already up: no new edge");
  assert.equal(source(r(UART.IIR_FCR)), IIR.RDI);
  assert.equal(r(UART.DATA), 0x61);
  assert.equal(r(UART.DATA), 0x62);
  assert.equal(r(UART.LSR) & LSR.DR, LSR.DR);
  assert.equal(r(UART.DATA), 0x63);
  assert.equal(r(UART.LSR) & LSR.DR, 0);
  assert.equal(source(r(UART.IIR_FCR)), IIR.NO_INT);
  serial.enqueueInput(new Uint8Array([0x64]));
  assert.equal(irqs.count, 2, "new data after draining is a new edge");
  assert.equal(serial.bytesIn, 4);
});

Deno.test("serial: no RDI interrupt while RDI is disabled; enabling it with data raises it", () => {
  const { serial, irqs, w } = uartHarness();
  w(UART.MCR, MCR.OUT2);
  serial.enqueueInput(new Uint8Array([1]));
  assert.equal(irqs.count, 0);
  w(UART.IER, IER.RDI);
  assert.equal(irqs.count, 1);
});

Deno.test("serial: a full receive FIFO pushes back and announces room once", async () => {
  let spaces = 0;
  const { serial, r, w } = uartHarness({ onRxSpace: () => spaces++ });
  w(UART.IER, IER.RDI);
  assert.equal(serial.enqueueInput(new Uint8Array(100).fill(0x61)), RX_FIFO_SIZE);
  assert.equal(serial.rxFree, 0);
  assert.equal(serial.enqueueInput(new Uint8Array([1])), 0);
  let resolved = false;
  const room = serial.waitForRxSpace().then(() => resolved = true);
  await flushMicrotasks();
  assert.equal(spaces, 0);
  assert.equal(resolved, false);
  r(UART.DATA);
  assert.equal(spaces, 0, "announced later, not inside the guest's register access");
  await room;
  assert.equal(spaces, 1);
  r(UART.DATA);
  await flushMicrotasks();
  assert.equal(spaces, 1, "one announcement per refusal");
  assert.equal(serial.enqueueInput(new Uint8Array([1, 2, 3])), 2);
  assert.equal(serial.bytesIn, RX_FIFO_SIZE + 2);
  let n = 0;
  while (r(UART.LSR) & LSR.DR) {
    r(UART.DATA);
    n++;
  }
  assert.equal(n, RX_FIFO_SIZE);
  await flushMicrotasks();
  assert.equal(spaces, 2);
});

Deno.test("serial: waitForRxSpace resolves at once when there is room", async () => {
  const { serial } = uartHarness();
  await serial.waitForRxSpace();
  assert.equal(serial.rxFree, RX_FIFO_SIZE);
});

Deno.test("serial: loopback feeds THR to RBR, maps MCR to MSR, and refuses host input", async () => {
  let spaces = 0;
  const { serial, out, r, w } = uartHarness({ onRxSpace: () => spaces++ });
  w(UART.MCR, MCR.LOOP);
  r(UART.MSR); // drop the deltas of entering loopback
  w(UART.DATA, 0x55);
  assert.deepEqual(out, []);
  assert.equal(serial.bytesOut, 0);
  assert.equal(r(UART.LSR) & LSR.DR, LSR.DR);
  assert.equal(r(UART.DATA), 0x55);
  const pairs: [number, number][] = [
    [MCR.RTS, MSR.CTS],
    [MCR.DTR, MSR.DSR],
    [MCR.OUT1, MSR.RI],
    [MCR.OUT2, MSR.DCD],
  ];
  for (const [mcr, msr] of pairs) {
    w(UART.MCR, MCR.LOOP | mcr);
    assert.equal(r(UART.MSR) & 0xf0, msr);
  }
  w(UART.MCR, MCR.LOOP | MCR.OUT1);
  r(UART.MSR);
  w(UART.MCR, MCR.LOOP);
  assert.equal(r(UART.MSR) & MSR.TERI, MSR.TERI, "RI turning off sets TERI");
  assert.equal(serial.enqueueInput(new Uint8Array([1])), 0, "the line is disconnected");
  assert.equal(serial.rxFree, 0);
  w(UART.MCR, 0);
  await flushMicrotasks();
  assert.equal(spaces, 1, "leaving loopback reconnects the host");
  assert.equal(serial.enqueueInput(new Uint8Array([1])), 1);
  assert.equal(r(UART.MSR) & 0xf0, MSR.DCD | MSR.DSR | MSR.CTS);
});

Deno.test("serial: FCR clears the receive FIFO on request or on FIFO mode change only", () => {
  const { serial, r, w } = uartHarness();
  serial.enqueueInput(new Uint8Array([1, 2]));
  w(UART.IIR_FCR, FCR.ENABLE);
  assert.equal(r(UART.LSR) & LSR.DR, 0, "turning the FIFO on empties it");
  serial.enqueueInput(new Uint8Array([3, 4]));
  w(UART.IIR_FCR, FCR.ENABLE | 0x80); // a new trigger level, as every termios change writes
  assert.equal(r(UART.DATA), 3, "input survives an FCR write without clear bits");
  w(UART.IIR_FCR, FCR.ENABLE | FCR.CLEAR_RX);
  assert.equal(r(UART.LSR) & LSR.DR, 0);
});

Deno.test("serial: Linux's interrupt-driven driver transmits and receives everything", () => {
  // The handler is registered before the driver's startup tests, as in Linux.
  const drv = new LinuxDriver({ r: (o) => h.r(o), w: (o, v) => h.w(o, v) });
  const h = uartHarness({ onIrq: () => drv.raise() });
  linuxAutoconfig(h);
  linuxStartup(h);
  drv.runPendingIrqs(); // the startup tests' THRE interrupt: found handled, IER is 0 again

  const text = "Welcome to denovmm!\n".repeat(20);
  drv.write(text);
  assert.ok(h.irqs.count > 0, "setting THRI started the transmitter");
  drv.runPendingIrqs();
  assert.equal(new TextDecoder().decode(new Uint8Array(h.out)), text);
  assert.equal(drv.transmitting, false);
  assert.ok(drv.runs <= 3, `a burst costs few interrupts, took ${drv.runs}`);

  const input = new TextEncoder().encode("uname -a\n".repeat(20));
  let rest = input;
  while (rest.length > 0) {
    rest = rest.subarray(h.serial.enqueueInput(rest));
    drv.runPendingIrqs();
  }
  assert.deepEqual(drv.received, [...input]);

  // Both directions at once: input arriving while a transmission is in flight.
  drv.write("ok\n");
  h.serial.enqueueInput(new TextEncoder().encode("y"));
  drv.runPendingIrqs();
  assert.equal(new TextDecoder().decode(new Uint8Array(h.out.slice(-3))), "ok\n");
  assert.equal(drv.received.at(-1), 0x79);
  assert.equal(h.r(UART.IIR_FCR) & IIR.NO_INT, IIR.NO_INT, "the line is idle at the end");
  assert.ok(drv.spurious <= drv.runs / 2, `${drv.spurious} of ${drv.runs} runs found nothing`);
});
