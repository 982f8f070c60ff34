import assert from "node:assert/strict";
import { PanicDetector } from "./panic_detector.ts";

const enc = new TextEncoder();

Deno.test("panic banner is found across chunk boundaries", () => {
  const p = new PanicDetector();
  p.feed(enc.encode("[  1.0] Run /init\n[  2.0] Kernel pa"));
  assert.equal(p.message, undefined);
  p.feed(enc.encode("nic - not syncing: Attempted to kill init!\r\n"));
  assert.equal(p.message, "Kernel panic - not syncing: Attempted to kill init!");
});

Deno.test("ordinary output and a mere mention do not count; long lines stay bounded", () => {
  const p = new PanicDetector();
  p.feed(enc.encode("echo Kernel panic\n"));
  p.feed(enc.encode("x".repeat(100_000)));
  assert.equal(p.message, undefined);
});

Deno.test("PanicDetector: two consoles with split UTF-8 sequences do not mix", () => {
  const a = new PanicDetector();
  const b = new PanicDetector();
  const euro = enc.encode("€"); // 3 bytes, split across a's chunks with b's output between
  a.feed(enc.encode("Kernel panic - not syncing: cost "));
  a.feed(euro.subarray(0, 1));
  b.feed(enc.encode("Kernel panic - not syncing: b\n"));
  a.feed(euro.subarray(1));
  a.feed(enc.encode("5\n"));
  assert.equal(a.message, "Kernel panic - not syncing: cost €5");
  assert.equal(b.message, "Kernel panic - not syncing: b");
});
