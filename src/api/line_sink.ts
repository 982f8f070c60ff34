/**
 * A file or named pipe that receives whole text lines (the metrics and the log file of `PUT
 * /metrics` and `PUT /logger`), opened as Firecracker opens them: read-write, created when
 * missing, non-blocking. Read-write keeps the open of a FIFO from blocking or failing while no
 * reader is attached; non-blocking means a FIFO nobody drains makes a write fail (EAGAIN, once its
 * 64 KiB buffer is full) instead of stalling the VMM. Unlike Firecracker, writes append
 * (`O_APPEND`), so a regular file keeps earlier lines rather than being overwritten from its start.
 *
 * @module
 */

import { EAGAIN, errno, ErrnoError } from "../../ffi/errno.ts";
import { cString } from "../../ffi/kvm.ts";
import { libc, O_APPEND, O_CLOEXEC, O_CREAT, O_NONBLOCK, O_RDWR } from "../../ffi/libc.ts";

const encoder = new TextEncoder();
const EINTR = 4;

/**
 * An open line sink.
 *
 * @example
 * ```ts
 * const sink = LineSink.open("metrics.fifo");
 * sink.writeLine(JSON.stringify({ utc_timestamp_ms: Date.now() }));
 * sink.close();
 * ```
 */
export class LineSink {
  readonly path: string;
  #fd: number;
  /** Lines that could not be written (a full FIFO, a full disk). */
  missed = 0;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens (or creates, mode 0644 before the umask) `path`. Throws an {@link ErrnoError} naming
   * the path and the reason.
   *
   * @example
   * ```ts
   * LineSink.open("/tmp/fc.log");
   * ```
   */
  static open(path: string): LineSink {
    const fd = libc.symbols.open(
      cString(path),
      O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC,
      0o644,
    );
    if (fd < 0) throw new ErrnoError(`open ${path}`, errno());
    return new LineSink(path, fd);
  }

  /**
   * Writes `line` and a newline. Returns false (and counts it in {@link missed}) when it could
   * not be written whole: the FIFO is full (EAGAIN) or the write failed; throws once closed.
   *
   * @example
   * ```ts
   * if (!sink.writeLine("hello")) console.error("the reader is not keeping up");
   * ```
   */
  writeLine(line: string): boolean {
    if (this.#fd < 0) throw new Error(`${this.path} is closed`);
    const bytes = encoder.encode(line + "\n");
    let at = 0;
    while (at < bytes.length) {
      const n = Number(libc.symbols.write(this.#fd, bytes.subarray(at), BigInt(bytes.length - at)));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        this.missed++;
        this.lastError = e === EAGAIN
          ? "the reader is not keeping up (the pipe is full)"
          : new ErrnoError(`write ${this.path}`, e).message;
        return false;
      }
      at += n;
    }
    return true;
  }

  /** Why the last failed {@link writeLine} failed. */
  lastError?: string;

  /** Closes the file (idempotent). @example `sink.close()` */
  close(): void {
    if (this.#fd >= 0) libc.symbols.close(this.#fd);
    this.#fd = -1;
  }
}
