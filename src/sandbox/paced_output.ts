/**
 * One output stream of a spawned guest command as a `ReadableStream` that hands the agent its
 * credit back only when the reader takes a chunk, so a reader that falls behind stalls the guest
 * command (as a full pipe does) instead of growing the host's memory.
 *
 * @module
 */

/**
 * A paced output stream: {@link push} what arrives, {@link close} or {@link error} at the end.
 *
 * @example
 * ```ts
 * const out = new PacedOutput((n) => cmd.releaseOutput(0, n));
 * out.push(new TextEncoder().encode("hi\n"));
 * out.close();
 * for await (const chunk of out.readable) console.log(chunk); // releases 3 bytes when read
 * ```
 */
export class PacedOutput {
  /** What the command wrote, chunk by chunk, as the reader asks for it. */
  readonly readable: ReadableStream<Uint8Array>;
  readonly #release: (bytes: number) => void;
  #queue: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #error: Error | undefined;
  #cancelled = false;

  /** `release(n)` is called once the reader has taken `n` more bytes (or cancelled them). */
  constructor(release: (bytes: number) => void) {
    this.#release = release;
    // highWaterMark 0: nothing is pulled ahead of a read, so the queue here is all there is.
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#cancelled = true;
        const n = this.queuedBytes;
        this.#queue = [];
        if (n > 0) this.#release(n);
      },
    }, { highWaterMark: 0 });
  }

  /** Bytes waiting for the reader. */
  get queuedBytes(): number {
    return this.#queue.reduce((sum, c) => sum + c.length, 0);
  }

  /** Queues a chunk for the reader (after a cancel, it is released at once). */
  push(chunk: Uint8Array): void {
    if (this.#cancelled) {
      this.#release(chunk.length);
      return;
    }
    this.#queue.push(chunk);
    this.#wakeReader();
  }

  /** The stream ends after the queued chunks. */
  close(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The stream fails with `e` at the next read; queued chunks are dropped. */
  error(e: Error): void {
    this.#error = e;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.#queue.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((r) => (this.#wake = r));
    }
    if (this.#error !== undefined) {
      this.#queue = [];
      controller.error(this.#error);
      return;
    }
    const chunk = this.#queue.shift();
    if (chunk === undefined) {
      controller.close();
      return;
    }
    controller.enqueue(chunk);
    this.#release(chunk.length);
  }
}
