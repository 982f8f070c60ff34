/**
 * The device event loop: one epoll set whose `epoll_wait` runs on Deno's blocking pool (an FFI
 * call marked nonblocking), so the main thread's event loop stays free while no fd is ready.
 * Devices register fds (queue ioeventfds, a tap, a backend) with a callback.
 *
 * @module
 */

import { check } from "../../ffi/errno.ts";
import { EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLIN, libc } from "../../ffi/libc.ts";
import { EventFd } from "./eventfd.ts";

const EVENT_SIZE = 12; // struct epoll_event is packed on x86-64: u32 events, u64 data
const MAX_EVENTS = 64;

/**
 * An epoll-driven callback loop.
 *
 * @example
 * ```ts
 * const loop = new EventLoop();
 * loop.add(efd.fd, () => device.queueNotify(0));
 * loop.start();
 * // ...
 * await loop.close();
 * ```
 */
export class EventLoop {
  readonly #epfd: number;
  readonly #handlers = new Map<number, () => void>();
  readonly #events = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  readonly #view = new DataView(this.#events.buffer);
  readonly #wake = new EventFd();
  #running?: Promise<void>;
  #closing = false;
  #onError: (e: unknown) => void;

  /** @example `new EventLoop((e) => console.error(e))` */
  constructor(onError: (e: unknown) => void = (e) => console.error(e)) {
    this.#epfd = check("epoll_create1", libc.symbols.epoll_create1(EPOLL_CLOEXEC));
    this.#onError = onError;
    this.add(this.#wake.fd, () => {});
  }

  /** Calls `handler` whenever `fd` is readable (level-triggered). */
  add(fd: number, handler: () => void): void {
    const ev = new Uint8Array(EVENT_SIZE);
    const v = new DataView(ev.buffer);
    v.setUint32(0, EPOLLIN, true);
    v.setBigUint64(4, BigInt(fd), true);
    check(`epoll_ctl ADD fd ${fd}`, libc.symbols.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, fd, ev));
    this.#handlers.set(fd, handler);
  }

  /** Stops watching `fd`. */
  remove(fd: number): void {
    if (!this.#handlers.delete(fd)) return;
    libc.symbols.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, new Uint8Array(EVENT_SIZE));
  }

  /** Starts dispatching. */
  start(): void {
    this.#running ??= this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      const n = await libc.symbols.epoll_wait_async(this.#epfd, this.#events, MAX_EVENTS, -1);
      if (n < 0) continue; // EINTR
      for (let i = 0; i < n && !this.#closing; i++) {
        const fd = Number(this.#view.getBigUint64(i * EVENT_SIZE + 4, true));
        const h = this.#handlers.get(fd);
        if (h === undefined) continue;
        try {
          h();
        } catch (e) {
          this.#onError(e);
        }
      }
    }
  }

  /** Stops the loop and closes the epoll fd (registered fds stay open: their owners close them). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#wake.signal();
    await this.#running;
    libc.symbols.close(this.#epfd);
    this.#wake.close();
  }
}
