import { IoBus } from "./bus.ts";

const bus = new IoBus();
const sink = { read: (_o: number, d: Uint8Array) => void (d[0] = 0), write: () => {} };
for (let i = 0; i < 32; i++) bus.insert(0xd000_0000 + i * 0x1000, 0x1000, sink, `dev${i}`);
bus.insert(0x3f8, 8, sink, "com1");
const data = new Uint8Array(4);

Deno.bench("IoBus lookup, 33 devices, 1e6 accesses", () => {
  for (let i = 0; i < 1_000_000; i++) bus.read(0xd000_0000 + (i & 31) * 0x1000 + 0x50, data);
});
