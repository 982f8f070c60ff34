import { type BusDevice, IoBus } from "./bus.ts";

const sink: BusDevice = {
  read: (_offset, data) => void (data[0] = 0),
  write: () => {},
};
const bus = new IoBus();
for (let i = 0; i < 32; i++) bus.insert(0xd000_0000 + i * 0x1000, 0x1000, sink, `virtio${i}`);
bus.insert(0x3f8, 8, sink, "com1");
bus.insert(0x60, 1, sink, "i8042 data");
bus.insert(0x64, 1, sink, "i8042 command");
bus.insert(0x80, 1, sink, "post");
const data = new Uint8Array(4);
const N = 1_000_000;

Deno.bench(`IoBus: ${N} lookups cycling over 32 MMIO ranges (binary search)`, () => {
  for (let i = 0; i < N; i++) bus.read(0xd000_0000 + (i & 31) * 0x1000 + 0x50, data);
});

Deno.bench(`IoBus: ${N} lookups of one port (a console line: the last-hit shortcut)`, () => {
  for (let i = 0; i < N; i++) bus.write(0x3f8 + (i & 7), data);
});

Deno.bench(`IoBus: ${N} lookups of unmapped ports`, () => {
  for (let i = 0; i < N; i++) bus.read(0x2f8 + (i & 7), data);
});
