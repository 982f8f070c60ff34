/**
 * API server memory under malformed traffic: the real API server in a child process
 * (tests/support/api_heap_harness.ts) answers rounds of malformed requests (every one a 4xx JSON
 * fault); after each round it reports its JS heap after two full GCs, its RSS and its open fds.
 * A leak shows as a heap or fd count that keeps climbing; RSS climbs for a while as V8 and the
 * allocator grow their pools, then levels off.
 *
 * Usage: `deno task bench:api [--rounds N] [--per-round N]` (defaults 6 rounds of 10 000, after a
 * 1 500-request warm-up).
 *
 * @module
 */

import { HeapHarness, sendMalformed } from "../tests/support/api_malformed.ts";

const flags = new Map(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const count = (name: string, fallback: number) => {
  const v = Number(flags.get(name) ?? fallback);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive whole number`);
    Deno.exit(2);
  }
  return v;
};
const rounds = count("rounds", 6);
const perRound = count("per-round", 10_000);
const mib = (n: number) => (n / 2 ** 20).toFixed(1);

await using h = await HeapHarness.start();
await sendMalformed(h.req, 1500);
const rows: string[] = [];
const first = await h.measure();
const row = (n: number, m: typeof first, ms: number | null) =>
  rows.push(
    `| ${n} | ${mib(m.heapUsed)} | ${mib(m.rss)} | ${m.fds} | ${
      ms === null ? "-" : (ms * 1000 / perRound).toFixed(0)
    } |`,
  );
row(0, first, null);
let last = first;
for (let r = 1; r <= rounds; r++) {
  const t0 = performance.now();
  await sendMalformed(h.req, perRound);
  const ms = performance.now() - t0;
  last = await h.measure();
  row(r * perRound, last, ms);
}
console.log("| requests after warm-up | heap after GC (MiB) | RSS (MiB) | fds | µs per request |");
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
console.log(
  `heap ${mib(last.heapUsed - first.heapUsed)} MiB, RSS ${mib(last.rss - first.rss)} MiB, ` +
    `fds ${last.fds - first.fds} over ${rounds * perRound} requests`,
);
