/**
 * A Linux eventfd: the doorbell KVM rings for an ioeventfd and listens on for an irqfd.
 *
 * @module
 */

import { check } from "../../ffi/errno.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, libc } from "../../ffi/libc.ts";

/**
 * A non-blocking eventfd with allocation-free signal and drain.
 *
 * @example
 * ```ts
 * using efd = new EventFd();
 * efd.signal();
 * efd.drain(); // 1n
 * ```
 */
export class EventFd implements Disposable {
  readonly #fd: number;
  readonly #one = new Uint8Array(new BigUint64Array([1n]).buffer);
  readonly #buf = new BigUint64Array(1);
  readonly #bytes = new Uint8Array(this.#buf.buffer);
  #closed = false;

  /** @example `new EventFd()` */
  constructor() {
    this.#fd = check("eventfd", libc.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }

  /** The raw fd (for KVM_IOEVENTFD / KVM_IRQFD / epoll). */
  get fd(): number {
    return this.#fd;
  }

  /** Adds 1 to the counter (wakes a reader; injects the interrupt for an irqfd). */
  signal(): void {
    libc.symbols.write(this.#fd, this.#one, 8n);
  }

  /** Reads and clears the counter; 0n when it was already 0. */
  drain(): bigint {
    const n = libc.symbols.read(this.#fd, this.#bytes, 8n);
    return n === 8n ? this.#buf[0] : 0n;
  }

  /** Closes the fd (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.symbols.close(this.#fd);
  }

  /** `using` support. */
  [Symbol.dispose](): void {
    this.close();
  }
}
