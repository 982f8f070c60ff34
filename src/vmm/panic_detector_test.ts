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
