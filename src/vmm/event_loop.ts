/**
 * The device event loop: one epoll set whose `epoll_wait` runs on Deno's blocking pool (an FFI
 * call marked nonblocking), so the main thread's event loop stays free while no fd is ready.
 * Devices register fds (queue ioeventfds, a tap, a backend) with a callback. Watches are
 * level-triggered; by default an fd is watched for EPOLLIN, and {@link EventLoop.modify} changes
 * what it is watched for (a tap waiting for room to write asks for EPOLLOUT).
 *
 * @module
 */

import { check } from "../../ffi/errno.ts";
import {
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLIN,
  libc,
} from "../../ffi/libc.ts";
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
  readonly #handlers = new Map<number, (events: number) => void>();
  readonly #events = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  readonly #view = new DataView(this.#events.buffer);
  readonly #ctl = new Uint8Array(EVENT_SIZE);
  readonly #ctlView = new DataView(this.#ctl.buffer);
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

  /**
   * Calls `handler` with the ready event bits whenever `fd` is ready for `events` (level-
   * triggered; EPOLLIN by default). EPOLLERR and EPOLLHUP are always reported.
   *
   * @example
   * ```ts
   * loop.add(tapFd, (ev) => { if (ev & EPOLLIN) readFrames(); }, EPOLLIN | EPOLLOUT);
   * ```
   */
  add(fd: number, handler: (events: number) => void, events: number = EPOLLIN): void {
    check(`epoll_ctl ADD fd ${fd}`, this.#epollCtl(EPOLL_CTL_ADD, fd, events));
    this.#handlers.set(fd, handler);
  }

  /**
   * Changes what a watched fd is watched for (0: nothing but errors and hang-ups). Allocates
   * nothing, so a device may call it per frame.
   *
   * @example
   * ```ts
   * loop.modify(tapFd, EPOLLIN | EPOLLOUT);
   * ```
   */
  modify(fd: number, events: number): void {
    if (this.#closing || !this.#handlers.has(fd)) return;
    check(`epoll_ctl MOD fd ${fd}`, this.#epollCtl(EPOLL_CTL_MOD, fd, events));
  }

  /** Stops watching `fd` (a no-op once the loop is closed). */
  remove(fd: number): void {
    if (!this.#handlers.delete(fd) || this.#closing) return;
    this.#epollCtl(EPOLL_CTL_DEL, fd, 0);
  }

  #epollCtl(op: number, fd: number, events: number): number {
    this.#ctlView.setUint32(0, events, true);
    this.#ctlView.setUint32(4, fd, true); // epoll_data: the fd, zero-extended to 64 bits
    this.#ctlView.setUint32(8, 0, true);
    return libc.symbols.epoll_ctl(this.#epfd, op, fd, this.#ctl);
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
        const fd = this.#view.getUint32(i * EVENT_SIZE + 4, true);
        const h = this.#handlers.get(fd);
        if (h === undefined) continue;
        try {
          h(this.#view.getUint32(i * EVENT_SIZE, true));
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
