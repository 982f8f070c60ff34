/**
 * errno access and the {@link ErrnoError} every failed syscall becomes.
 *
 * @module
 */

import { libc } from "./libc.ts";

// The errno location is per thread and fixed for the thread's life: look it up once, so reading
// errno right after a failed call is a single load with no call in between that could clobber it.
const errnoView = new Deno.UnsafePointerView(libc.symbols.__errno_location()!);

/**
 * The calling thread's current errno.
 *
 * @example
 * ```ts
 * if (libc.symbols.close(-1) < 0) console.log(errno()); // 9 (EBADF)
 * ```
 */
export function errno(): number {
  return errnoView.getInt32(0);
}

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  25: "ENOTTY",
  28: "ENOSPC",
  38: "ENOSYS",
  77: "EBADFD",
  90: "EMSGSIZE",
  95: "EOPNOTSUPP",
  100: "ENETDOWN",
  105: "ENOBUFS",
};

/**
 * The symbolic name of an errno value ("EINVAL"), or "errno N" when unknown.
 *
 * @example
 * ```ts
 * errnoName(22); // "EINVAL"
 * ```
 */
export function errnoName(code: number): string {
  return NAMES[code] ?? `errno ${code}`;
}

/**
 * The C library's description of an errno value ("Invalid argument").
 *
 * @example
 * ```ts
 * strerror(2); // "No such file or directory"
 * ```
 */
export function strerror(code: number): string {
  const p = libc.symbols.strerror(code);
  return p === null ? `errno ${code}` : new Deno.UnsafePointerView(p).getCString();
}

/**
 * A failed syscall or ioctl: names the operation and the errno.
 *
 * @example
 * ```ts
 * try {
 *   kvm.createVm();
 * } catch (e) {
 *   if (e instanceof ErrnoError && e.code === 12) console.log("out of memory");
 * }
 * ```
 */
export class ErrnoError extends Error {
  /** The errno value. */
  readonly code: number;
  /** The operation that failed ("KVM_CREATE_VM", "open /dev/kvm"). */
  readonly operation: string;

  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * throw new ErrnoError("KVM_RUN", 4);
   * ```
   */
  constructor(operation: string, code: number) {
    super(`${operation} failed: ${strerror(code)} (${errnoName(code)})`);
    this.name = "ErrnoError";
    this.code = code;
    this.operation = operation;
  }
}

/**
 * Throws {@link ErrnoError} when a syscall returned a negative value; returns the value otherwise.
 *
 * @example
 * ```ts
 * const fd = check("eventfd", libc.symbols.eventfd(0, 0));
 * ```
 */
export function check(operation: string, result: number): number {
  if (result < 0) throw new ErrnoError(operation, errno());
  return result;
}

/** Name of errno EINTR (a signal interrupted the call). @example `e.code === EINTR` */
export const EINTR = 4;
/** errno EAGAIN (try again / would block). @example `e.code === EAGAIN` */
export const EAGAIN = 11;
