import assert from "node:assert/strict";
import { activateWithMocks } from "../testing/activate.ts";
import { RngDevice } from "./device.ts";

Deno.test("rng fills writable buffers and reports their length", () => {
  const dev = new RngDevice("rng0");
  const drv = activateWithMocks(dev);
  const q = drv.queues[0];
  const a = q.alloc(100000);
  const head = q.addChain([{ addr: a, len: 100000, write: true }]);
  dev.queueNotify(0);
  assert.deepEqual(q.used(), [{ id: head, len: 100000 }]);
  const bytes = drv.mem.slice(a, 100000);
  assert.ok(new Set(bytes.subarray(0, 4096)).size > 200, "looks random");
  assert.ok(
    bytes.subarray(70000, 70100).some((b) => b !== 0),
    "past the 64 KiB getRandomValues limit too",
  );
  assert.equal(drv.interrupts.used, 1);
});

Deno.test("rng: a readable buffer in the chain is ignored, a bad ring needs reset", () => {
  const dev = new RngDevice("rng0");
  const drv = activateWithMocks(dev);
  drv.queues[0].addChain([{ len: 16, write: true }]);
  dev.queueNotify(0);
  assert.equal(drv.queues[0].used()[0].len, 16);
  drv.queues[0].setAvailIdx(500);
  dev.queueNotify(0);
  assert.equal(drv.resetReasons.length, 1);
});
