import assert from "node:assert/strict";
import { EPOLLIN, EPOLLOUT } from "../../ffi/libc.ts";
import { EventLoop } from "./event_loop.ts";
import { EventFd } from "./eventfd.ts";

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

Deno.test("event loop: handlers get the ready bits; modify changes what an fd is watched for", async () => {
  const loop = new EventLoop((e) => {
    throw e;
  });
  using efd = new EventFd();
  const seen: number[] = [];
  loop.add(efd.fd, (ev) => {
    seen.push(ev);
    efd.drain();
  });
  loop.start();
  efd.signal();
  await tick();
  assert.deepEqual(seen, [EPOLLIN], "EPOLLIN by default, as before");

  // An eventfd is always writable: watching EPOLLOUT reports it until the watch is changed.
  loop.modify(efd.fd, EPOLLOUT);
  await tick();
  assert.ok(seen.length > 1 && seen.slice(1).every((ev) => ev === EPOLLOUT));
  loop.modify(efd.fd, 0);
  await tick(); // an event already being dispatched may still arrive
  const quiet = seen.length;
  efd.signal();
  await tick(50);
  assert.equal(seen.length, quiet, "watched for nothing: no callbacks");
  loop.modify(efd.fd, EPOLLIN);
  await tick();
  assert.equal(seen.at(-1), EPOLLIN, "the pending count is seen once watched again");

  loop.remove(efd.fd);
  await loop.close();
  loop.remove(efd.fd); // after close: no-ops, no throw
  loop.modify(efd.fd, EPOLLIN);
});
