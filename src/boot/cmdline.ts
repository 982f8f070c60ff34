/**
 * The kernel command line: arguments for the kernel, then ` -- ` and the arguments the kernel
 * hands to init. The VMM appends its own arguments (devices, quirks) to the kernel part, so the
 * init part always stays last.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";

const enc = new TextEncoder();

/**
 * A kernel command line under construction.
 *
 * @example
 * ```ts
 * const c = Cmdline.parse("console=ttyS0 -- echo hi");
 * c.push("virtio_mmio.device=4K@0xd0000000:5");
 * c.toString(); // "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 -- echo hi"
 * ```
 */
export class Cmdline {
  readonly #args: string[] = [];
  readonly #initArgs: string[] = [];

  /**
   * Splits a command line at the first ` -- ` into kernel and init arguments.
   *
   * @example
   * ```ts
   * Cmdline.parse("quiet -- /bin/sh -c 'ls'").initArgs; // "/bin/sh -c 'ls'"
   * ```
   */
  static parse(line: string): Cmdline {
    const c = new Cmdline();
    const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
    const sep = words.indexOf("--");
    for (const w of sep < 0 ? words : words.slice(0, sep)) c.push(w);
    if (sep >= 0) c.#initArgs.push(...words.slice(sep + 1));
    return c;
  }

  /** Appends a kernel argument (before any init arguments). */
  push(arg: string): this {
    if (/\s/.test(arg) && !/^[^=]*="[^"]*"$/.test(arg)) {
      throw new Error(`Kernel argument ${JSON.stringify(arg)} contains white space`);
    }
    this.#args.push(arg);
    return this;
  }

  /**
   * True when a kernel argument named `key` is present (as `key` or `key=value`).
   *
   * @example
   * ```ts
   * Cmdline.parse("console=ttyS0").has("console"); // true
   * ```
   */
  has(key: string): boolean {
    return this.#args.some((a) => a === key || a.startsWith(`${key}=`));
  }

  /** The init arguments (after ` -- `), joined by spaces. */
  get initArgs(): string {
    return this.#initArgs.join(" ");
  }

  /** The whole command line. */
  toString(): string {
    const init = this.#initArgs.length > 0 ? ` -- ${this.#initArgs.join(" ")}` : "";
    return this.#args.join(" ") + init;
  }

  /**
   * Writes the NUL-terminated command line at `addr`; throws when it is longer than the
   * kernel accepts (`maxLen` bytes, NUL excluded).
   *
   * @example
   * ```ts
   * const size = c.write(mem, CMDLINE_ADDR, 2047);
   * ```
   */
  write(mem: GuestMemory, addr: number, maxLen: number): number {
    const bytes = enc.encode(this.toString());
    if (bytes.length > maxLen) {
      throw new Error(
        `The kernel command line is ${bytes.length} bytes; this kernel accepts at most ${maxLen}`,
      );
    }
    mem.write(addr, bytes);
    mem.writeU8(addr + bytes.length, 0);
    return bytes.length + 1;
  }
}
