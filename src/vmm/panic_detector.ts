/**
 * Watches guest console output for the kernel's panic banner. With `panic=-1` a panicking guest
 * resets through the same path as a clean `reboot -f`, so the console is what tells them apart.
 *
 * @module
 */

const BANNER = "Kernel panic - not syncing";

/**
 * Scans console bytes for the panic banner, across chunk boundaries.
 *
 * @example
 * ```ts
 * const p = new PanicDetector();
 * p.feed(new TextEncoder().encode("Kernel panic - not syncing: boom\n"));
 * p.message; // "Kernel panic - not syncing: boom"
 * ```
 */
export class PanicDetector {
  // One decoder per detector: in streaming mode it holds a split UTF-8 sequence between chunks,
  // which must not leak into another VM's console.
  readonly #decoder = new TextDecoder();
  #line = "";
  #message?: string;

  /** The panic line, once seen. */
  get message(): string | undefined {
    return this.#message;
  }

  /** Feeds console output. */
  feed(bytes: Uint8Array): void {
    if (this.#message !== undefined) return;
    this.#line += this.#decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.#line.indexOf("\n")) >= 0) {
      this.#check(this.#line.slice(0, nl));
      this.#line = this.#line.slice(nl + 1);
    }
    // Keep only what could still be the start of a banner; a line without newline is kept whole
    // up to a bound so an endless line cannot grow memory.
    if (this.#line.length > 4096) this.#line = this.#line.slice(-BANNER.length);
  }

  #check(line: string): void {
    const at = line.indexOf(BANNER);
    if (at >= 0) this.#message = line.slice(at).trim();
  }
}
