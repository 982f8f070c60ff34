/**
 * A bounded first-in first-out queue of bytes on a ring buffer: the receive FIFO of the UART and
 * the output buffers of the i8042. Fixed storage, so pushing and popping never allocate.
 *
 * @example
 * ```ts
 * import { ByteFifo } from "./byte_fifo.ts";
 * const f = new ByteFifo(16);
 * f.push(0x41);
 * f.pop(); // 0x41
 * ```
 * @module
 */

/**
 * A byte queue holding at most `capacity` bytes.
 *
 * @example
 * ```ts
 * const f = new ByteFifo(2);
 * f.pushFrom(new Uint8Array([1, 2, 3])); // 2: the third byte did not fit
 * f.pop(); // 1
 * f.length; // 1
 * ```
 */
export class ByteFifo {
  readonly #buf: Uint8Array;
  #head = 0;
  #length = 0;

  /**
   * An empty queue of `capacity` bytes (a positive integer).
   *
   * @example
   * ```ts
   * new ByteFifo(64);
   * ```
   */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) {
      throw new RangeError(`A byte FIFO needs a positive integer capacity, got ${capacity}`);
    }
    this.#buf = new Uint8Array(capacity);
  }

  /** Most bytes the queue holds. */
  get capacity(): number {
    return this.#buf.length;
  }

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  /** Room left, in bytes. */
  get free(): number {
    return this.#buf.length - this.#length;
  }

  /**
   * Appends one byte (the low 8 bits of `byte`); false, changing nothing, when full.
   *
   * @example
   * ```ts
   * if (!fifo.push(0x0d)) overrun = true;
   * ```
   */
  push(byte: number): boolean {
    const cap = this.#buf.length;
    if (this.#length === cap) return false;
    let tail = this.#head + this.#length;
    if (tail >= cap) tail -= cap;
    this.#buf[tail] = byte;
    this.#length++;
    return true;
  }

  /**
   * Appends as many bytes of `bytes` as fit, in order; returns how many.
   *
   * @example
   * ```ts
   * const took = fifo.pushFrom(input);
   * const rest = input.subarray(took);
   * ```
   */
  pushFrom(bytes: ArrayLike<number>): number {
    const n = Math.min(bytes.length, this.free);
    for (let i = 0; i < n; i++) this.push(bytes[i]);
    return n;
  }

  /**
   * Removes and returns the oldest byte, or -1 when empty.
   *
   * @example
   * ```ts
   * const b = fifo.pop();
   * if (b < 0) console.log("empty");
   * ```
   */
  pop(): number {
    if (this.#length === 0) return -1;
    const b = this.#buf[this.#head];
    this.#head = this.#head + 1 === this.#buf.length ? 0 : this.#head + 1;
    this.#length--;
    return b;
  }

  /**
   * Drops every queued byte.
   *
   * @example
   * ```ts
   * fifo.clear(); // FCR "clear receiver"
   * ```
   */
  clear(): void {
    this.#head = 0;
    this.#length = 0;
  }
}
