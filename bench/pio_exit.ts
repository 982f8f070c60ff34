/**
 * PIO exit round trip: a tiny guest executes `out dx, al` N times. Measured two ways in one run:
 * denovmm's path (each exit goes from the vCPU Worker through the shared-memory mailbox to a
 * device on the main thread and back) and the baseline of calling KVM_RUN in a loop on one
 * thread with no device work, which is the least any VMM can pay per exit on this host.
 *
 * Usage: `deno run -A --unstable-ffi --unstable-worker-options bench/pio_exit.ts [--exits N]`
 *
 * @module
 */

import { KVM_EXIT } from "../ffi/kvm_ioctls.ts";
import { PayloadVm } from "../tests/support/payload_vm.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const N = Number(args.exits ?? 20000);
// mov ecx, N ; mov dx, 0x3f8 ; l: out dx, al ; dec ecx ; jnz l ; hlt
const code = [
  0xb9,
  N & 0xff,
  (N >> 8) & 0xff,
  (N >> 16) & 0xff,
  (N >> 24) & 0xff,
  0x66,
  0xba,
  0xf8,
  0x03,
  0xee,
  0x49,
  0x75,
  0xfc,
  0xf4,
];

async function viaWorker(): Promise<number> {
  await using p = new PayloadVm();
  let n = 0;
  p.pio.insert(0x3f8, 1, { read: () => {}, write: () => void n++ }, "sink");
  const t = p.addVcpu(0x1000, code);
  const t0 = performance.now();
  t.start();
  await t.stopped;
  if (n !== N) throw new Error(`expected ${N} exits, saw ${n}`);
  return ((performance.now() - t0) * 1000) / N;
}

async function directLoop(): Promise<number> {
  await using p = new PayloadVm();
  p.addVcpu(0x1000, code);
  const vcpu = p.vcpus[0];
  const t0 = performance.now();
  let exits = 0;
  for (;;) {
    const r = vcpu.run();
    if (r === KVM_EXIT.IO) exits++;
    else if (r === KVM_EXIT.HLT) break;
  }
  if (exits !== N) throw new Error(`expected ${N} exits, saw ${exits}`);
  return ((performance.now() - t0) * 1000) / N;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const w: number[] = [];
const d: number[] = [];
for (let i = 0; i < 5; i++) {
  w.push(await viaWorker());
  d.push(await directLoop());
}
console.log(`\nPIO exit cost, ${N} exits per run, median of 5\n`);
console.log("| path | µs per exit |");
console.log("| --- | --- |");
console.log(`| vCPU Worker → mailbox → main-thread device → back | ${median(w).toFixed(1)} |`);
console.log(`| KVM_RUN loop on one thread, no device (baseline) | ${median(d).toFixed(1)} |`);
console.log(`| ratio | ${(median(w) / median(d)).toFixed(2)}x |`);
