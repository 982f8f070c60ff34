import assert from "node:assert/strict";
import { GuestMemory } from "../../memory/guest_memory.ts";
import { MockSplitQueue } from "../testing/mock_split_queue.ts";
import {
  ChainBuffers,
  SplitQueue,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F,
  VirtqueueError,
} from "./split_queue.ts";

const MEM = 2 << 20;
function setup(size = 16, eventIdx = false) {
  const mem = GuestMemory.fromBuffers(MEM);
  const drv = new MockSplitQueue(mem, 0x10000, size);
  const dev = new SplitQueue(mem, size, drv.addresses, { eventIdx });
  return { mem, drv, dev };
}
const bad = (re: RegExp) => (e: unknown) => e instanceof VirtqueueError && re.test(e.message);

Deno.test("pop returns readable then writable buffers, addUsed publishes id and length", () => {
  const { mem, drv, dev } = setup();
  assert.equal(dev.pop(), null);
  const head = drv.addChain([{ data: new Uint8Array([1, 2, 3]) }, { len: 100, write: true }, {
    len: 28,
    write: true,
  }]);
  const c = dev.pop()!;
  assert.equal(c.head, head);
  assert.equal(c.readable.length, 1);
  assert.deepEqual([...mem.slice(c.readable[0].addr, 3)], [1, 2, 3]);
  assert.deepEqual(c.writable.map((b) => b.len), [100, 28]);
  assert.equal(c.writableBytes, 128);
  assert.equal(dev.pop(), null);
  dev.addUsed(c.head, 77);
  assert.deepEqual(drv.used(), [{ id: head, len: 77 }]);
});

Deno.test("indirect chains are followed", () => {
  const { drv, dev } = setup();
  drv.addChain([{ data: new Uint8Array(16) }, { len: 512, write: true }, { len: 1, write: true }], {
    indirect: true,
  });
  const c = dev.pop()!;
  assert.equal(c.readable.length, 1);
  assert.deepEqual(c.writable.map((b) => b.len), [512, 1]);
});

Deno.test("ring indexes wrap past 65535", () => {
  const { drv, dev } = setup(4);
  for (let i = 0; i < 70000; i++) {
    drv.addChain([{ addr: 0x100000, len: 8 }]);
    const c = dev.pop()!;
    dev.addUsed(c.head, 0);
    drv.used();
  }
  assert.equal(dev.lastAvail, 70000 & 0xffff);
});

Deno.test("malformed: buffer past the end of RAM, wrapping, or at a huge address", () => {
  for (const addr of [MEM - 4, 2 ** 53 - 2, 0xffff_ffff_ffff_fff0n]) {
    const { drv, dev } = setup();
    drv.writeDescriptor(0, { addr, len: 16, flags: 0, next: 0 });
    drv.publish(0);
    assert.throws(() => dev.pop(), bad(/outside guest RAM/));
  }
});

Deno.test("malformed: zero-length buffers are accepted as empty", () => {
  const { drv, dev } = setup();
  drv.writeDescriptor(0, { addr: 0x100000, len: 0, flags: 0, next: 0 });
  drv.publish(0);
  assert.equal(dev.pop()!.readable[0].len, 0);
});

Deno.test("malformed: a loop in the chain is caught at the queue size", () => {
  const { drv, dev } = setup(8);
  drv.writeDescriptor(0, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: 1 });
  drv.writeDescriptor(1, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: 0 });
  drv.publish(0);
  assert.throws(() => dev.pop(), bad(/loops/));
});

Deno.test("malformed: next index and head beyond the queue size", () => {
  const a = setup(8);
  a.drv.writeDescriptor(0, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: 9 });
  a.drv.publish(0);
  assert.throws(() => a.dev.pop(), bad(/beyond its table/));
  const b = setup(8);
  b.drv.publish(8);
  assert.throws(() => b.dev.pop(), bad(/head 8 is beyond/));
});

Deno.test("malformed: indirect inside indirect, indirect with NEXT, bad indirect length", () => {
  const { mem, drv, dev } = setup();
  const inner = drv.alloc(16);
  const outer = drv.alloc(16);
  drv.writeDescriptor(0, { addr: inner, len: 16, flags: VIRTQ_DESC_F.INDIRECT, next: 0 }, outer);
  drv.writeDescriptor(0, { addr: outer, len: 16, flags: VIRTQ_DESC_F.INDIRECT, next: 0 });
  drv.publish(0);
  assert.throws(() => dev.pop(), bad(/inside an indirect/));

  drv.writeDescriptor(1, {
    addr: outer,
    len: 16,
    flags: VIRTQ_DESC_F.INDIRECT | VIRTQ_DESC_F.NEXT,
    next: 2,
  });
  drv.publish(1);
  assert.throws(
    () => new SplitQueue(mem, 16, drv.addresses, { eventIdx: false }).pop(),
    bad(/indirect/),
  );

  const c = setup();
  c.drv.writeDescriptor(0, { addr: 0x100000, len: 15, flags: VIRTQ_DESC_F.INDIRECT, next: 0 });
  c.drv.publish(0);
  assert.throws(() => c.dev.pop(), bad(/whole number of descriptors/));
});

Deno.test("malformed: an indirect table that loops is caught at its own length", () => {
  const { drv, dev } = setup();
  const table = drv.alloc(32);
  drv.writeDescriptor(0, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: 1 }, table);
  drv.writeDescriptor(1, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: 0 }, table);
  drv.writeDescriptor(0, { addr: table, len: 32, flags: VIRTQ_DESC_F.INDIRECT, next: 0 });
  drv.publish(0);
  assert.throws(() => dev.pop(), bad(/loops/));
});

Deno.test("malformed: more descriptors than the queue size and avail.idx too far ahead", () => {
  const { drv, dev } = setup(4);
  for (let i = 0; i < 4; i++) {
    drv.writeDescriptor(i, { addr: 0x100000, len: 8, flags: VIRTQ_DESC_F.NEXT, next: (i + 1) % 4 });
  }
  drv.publish(0);
  assert.throws(() => dev.pop(), bad(/loops or is longer/));
  const b = setup(4);
  b.drv.setAvailIdx(5);
  assert.throws(() => b.dev.pop(), bad(/ahead/));
});

Deno.test("malformed: a readable buffer after a writable one", () => {
  const { drv, dev } = setup();
  drv.addChain([{ len: 8, write: true }, { data: new Uint8Array(8) }]);
  assert.throws(() => dev.pop(), bad(/readable descriptor after/));
});

Deno.test("rings outside RAM or misaligned are refused at setup", () => {
  const mem = GuestMemory.fromBuffers(1 << 20);
  assert.throws(
    () =>
      new SplitQueue(mem, 256, { desc: (1 << 20) - 16, avail: 0, used: 0 }, { eventIdx: false }),
    bad(/descriptor table/),
  );
  assert.throws(
    () => new SplitQueue(mem, 16, { desc: 8, avail: 0, used: 0 }, { eventIdx: false }),
    bad(/misaligned/),
  );
  assert.throws(
    () => new SplitQueue(mem, 0, { desc: 0, avail: 0, used: 0 }, { eventIdx: false }),
    bad(/queue size/),
  );
});

Deno.test("interrupt suppression: NO_INTERRUPT flag without EVENT_IDX", () => {
  const { drv, dev } = setup();
  drv.addChain([{ len: 8 }]);
  dev.addUsed(dev.pop()!.head, 0);
  assert.equal(dev.needsInterrupt(), true);
  drv.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  drv.addChain([{ len: 8 }]);
  dev.addUsed(dev.pop()!.head, 0);
  assert.equal(dev.needsInterrupt(), false);
});

Deno.test("interrupt suppression: EVENT_IDX used_event threshold and avail_event", () => {
  const { drv, dev } = setup(16, true);
  for (let i = 0; i < 3; i++) drv.addChain([{ len: 8 }]);
  drv.setUsedEvent(0);
  dev.addUsed(dev.pop()!.head, 0); // used 0 -> 1: crosses used_event 0
  assert.equal(dev.needsInterrupt(), true);
  assert.equal(drv.availEvent(), 1);
  drv.setUsedEvent(5); // the driver wants an interrupt only after entry 5
  dev.addUsed(dev.pop()!.head, 0);
  assert.equal(dev.needsInterrupt(), false);
  dev.addUsed(dev.pop()!.head, 0);
  assert.equal(dev.needsInterrupt(), false);
  drv.setUsedEvent(2);
  drv.addChain([{ len: 8 }]);
  dev.addUsed(dev.pop()!.head, 0); // 3 -> 4 passes 2? only if 2 in [old, new): old=3: no
  assert.equal(dev.needsInterrupt(), false);
  drv.setUsedEvent(4);
  drv.addChain([{ len: 8 }]);
  dev.addUsed(dev.pop()!.head, 0); // 4 -> 5 crosses 4
  assert.equal(dev.needsInterrupt(), true);
});

Deno.test("popInto walks into reusable arrays, leaves avail_event alone, caps the chain length", () => {
  const { drv, dev } = setup(16, true);
  const c = new ChainBuffers(3, 1);
  assert.equal(dev.popInto(c), false);
  const head = drv.addChain([{ data: new Uint8Array(12) }, { data: new Uint8Array(100) }, {
    len: 50,
    write: true,
  }], { indirect: true });
  assert.equal(dev.popInto(c), true);
  assert.equal(c.head, head);
  assert.deepEqual([c.readableCount, c.writableCount, c.readableBytes, c.writableBytes], [
    2,
    1,
    112,
    50,
  ]);
  assert.equal(c.count, 3);
  assert.deepEqual([...c.len.subarray(0, 3)], [12, 100, 50]);
  assert.equal(drv.availEvent(), 0, "popInto does not ask for kicks; pop does");
  dev.setNotification(true);
  assert.equal(drv.availEvent(), 1);
  const copy = new ChainBuffers(3);
  copy.copyFrom(c);
  assert.deepEqual([copy.head, copy.readableCount, copy.writableBytes], [head, 2, 50]);
  drv.addChain([1, 2, 3, 4].map(() => ({ len: 8, write: true })));
  assert.throws(() => dev.popInto(c), bad(/more than 3 buffers/));
});

Deno.test("addUsed without publishing: the driver sees the entries only at publishUsed", () => {
  const { drv, dev } = setup();
  const a = drv.addChain([{ len: 8, write: true }]);
  const b = drv.addChain([{ len: 8, write: true }]);
  dev.pop();
  dev.pop();
  dev.addUsed(a, 8, false);
  dev.addUsed(b, 4, false);
  assert.equal(drv.usedIdx(), 0);
  dev.publishUsed();
  assert.deepEqual(drv.used(), [{ id: a, len: 8 }, { id: b, len: 4 }]);
});
