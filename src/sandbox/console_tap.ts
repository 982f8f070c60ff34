/**
 * The guest console as seen by a sandbox: a web stream for whoever reads it, and the last few KiB
 * kept as text for error messages.
 *
 * @module
 */

/** Bytes the console stream holds for a reader that lags; newer output is dropped past this. */
export const CONSOLE_BUFFER_BYTES = 1 << 20;
const TAIL_BYTES = 16384;

/**
 * Fans console output out to a ReadableStream and a bounded tail.
 *
 * @example
 * ```ts
 * const tap = new ConsoleTap();
 * tap.push(new TextEncoder().encode("Linux version 6.1\n"));
 * console.log(tap.tail());
 * ```
 */
export class ConsoleTap {
  /** The console output; output is dropped (and counted) while 1 MiB waits unread. */
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #tail: Uint8Array[] = [];
  #tailBytes = 0;
  #closed = false;
  /** Bytes dropped because nobody read the stream. */
  dropped = 0;

  /** @example `new ConsoleTap()` */
  constructor() {
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => void (this.#controller = c),
      cancel: () => void (this.#closed = true),
    }, new ByteLengthQueuingStrategy({ highWaterMark: CONSOLE_BUFFER_BYTES }));
  }

  /** Takes a chunk of output (copied). */
  push(bytes: Uint8Array): void {
    const copy = bytes.slice();
    this.#tail.push(copy);
    this.#tailBytes += copy.length;
    while (this.#tailBytes - this.#tail[0].length >= TAIL_BYTES) {
      this.#tailBytes -= this.#tail.shift()!.length;
    }
    if (this.#closed) return;
    if ((this.#controller.desiredSize ?? 0) >= copy.length) this.#controller.enqueue(copy);
    else this.dropped += copy.length;
  }

  /** The last lines of output (about 16 KiB at most), as text. */
  tail(lines = 40): string {
    const all = new Uint8Array(this.#tailBytes);
    this.#tail.reduce((at, c) => (all.set(c, at), at + c.length), 0);
    return new TextDecoder().decode(all).replace(/\r/g, "").split("\n").slice(-lines).join("\n");
  }

  /** Ends the stream (the VM is gone). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller.close();
    } catch { /* the reader cancelled */ }
  }
}
