/**
 * The kernel command line: kernel arguments, then ` -- ` and the arguments the kernel hands to
 * init. The VMM keeps adding kernel arguments (devices, host quirks) after the user wrote the
 * line, so the two parts are kept apart and the init part is always emitted last.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";

const enc = new TextEncoder();
const SEPARATOR = "--";

/**
 * Splits a command line into words the way the kernel does: at white space outside double
 * quotes, quotes kept in the word.
 *
 * @example
 * ```ts
 * splitCmdline('a="x y" b'); // ['a="x y"', "b"]
 * ```
 */
export function splitCmdline(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    if (!quoted && /\s/.test(c)) {
      if (word.length > 0) words.push(word);
      word = "";
    } else {
      word += c;
    }
  }
  if (quoted) throw new Error(`The command line has an unbalanced double quote: ${line}`);
  if (word.length > 0) words.push(word);
  return words;
}

function checkWord(arg: string): void {
  if (arg.length === 0) throw new Error("A command-line argument cannot be empty");
  if (arg.includes("\0")) throw new Error("A command-line argument cannot contain a NUL byte");
  const words = splitCmdline(arg);
  if (words.length !== 1 || words[0] !== arg) {
    throw new Error(
      `Command-line argument ${JSON.stringify(arg)} has white space outside double quotes`,
    );
  }
}

// The kernel treats "-" and "_" alike in parameter names (not in values).
function splitParam(arg: string): { name: string; value?: string } {
  const bare = arg.startsWith('"') ? arg.slice(1) : arg;
  const eq = bare.indexOf("=");
  const name = (eq < 0 ? bare : bare.slice(0, eq)).replaceAll("-", "_");
  return eq < 0 ? { name } : { name, value: bare.slice(eq + 1) };
}

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
   * Splits a command line at the first `--` word into kernel and init arguments.
   *
   * @example
   * ```ts
   * Cmdline.parse("quiet -- /bin/sh -c ls").initArgs; // ["/bin/sh", "-c", "ls"]
   * ```
   */
  static parse(line: string): Cmdline {
    const c = new Cmdline();
    const words = splitCmdline(line);
    const sep = words.indexOf(SEPARATOR);
    for (const w of sep < 0 ? words : words.slice(0, sep)) c.push(w);
    if (sep >= 0) { for (const w of words.slice(sep + 1)) c.pushInit(w); }
    return c;
  }

  /**
   * Appends a kernel argument; it goes before any init arguments.
   *
   * @example
   * ```ts
   * new Cmdline().push("panic=-1").push("reboot=k").toString(); // "panic=-1 reboot=k"
   * ```
   */
  push(arg: string): this {
    checkWord(arg);
    if (arg === SEPARATOR) {
      throw new Error('"--" separates init arguments: add those with pushInit()');
    }
    this.#args.push(arg);
    return this;
  }

  /**
   * Appends an argument for init (after ` -- `).
   *
   * @example
   * ```ts
   * new Cmdline().pushInit("uname").pushInit("-a").toString(); // "-- uname -a"
   * ```
   */
  pushInit(arg: string): this {
    checkWord(arg);
    this.#initArgs.push(arg);
    return this;
  }

  /**
   * True when a kernel argument named `key` is present, as `key` or `key=value`; a `key` that
   * itself has a value (`console=ttyS0`) must match that argument exactly. Dashes and
   * underscores in names match each other, as in the kernel. Init arguments do not count.
   *
   * @example
   * ```ts
   * Cmdline.parse("console=ttyS0 quiet").has("console"); // true
   * ```
   */
  has(key: string): boolean {
    const want = splitParam(key);
    return this.#args.some((a) => {
      const p = splitParam(a);
      return p.name === want.name && (want.value === undefined || p.value === want.value);
    });
  }

  /**
   * The kernel arguments, in order.
   *
   * @example
   * ```ts
   * Cmdline.parse("quiet -- sh").args; // ["quiet"]
   * ```
   */
  get args(): readonly string[] {
    return [...this.#args];
  }

  /**
   * The init arguments (after ` -- `), in order.
   *
   * @example
   * ```ts
   * Cmdline.parse("quiet -- sh -l").initArgs; // ["sh", "-l"]
   * ```
   */
  get initArgs(): readonly string[] {
    return [...this.#initArgs];
  }

  /**
   * The whole command line, init arguments last.
   *
   * @example
   * ```ts
   * Cmdline.parse("a  b").toString(); // "a b"
   * ```
   */
  toString(): string {
    const words = this.#initArgs.length > 0
      ? [...this.#args, SEPARATOR, ...this.#initArgs]
      : this.#args;
    return words.join(" ");
  }

  /**
   * Writes the NUL-terminated command line at `addr` and returns its length (NUL excluded).
   * Throws when it is longer than `maxLen`, the kernel's cmdline_size.
   *
   * @example
   * ```ts
   * const len = Cmdline.parse("console=ttyS0").write(mem, CMDLINE_ADDR, 2047); // 13
   * ```
   */
  write(mem: GuestMemory, addr: number, maxLen: number): number {
    const text = enc.encode(this.toString());
    if (text.length > maxLen) {
      throw new Error(
        `The kernel command line is ${text.length} bytes long; this kernel accepts at most ` +
          `${maxLen}. Shorten it (it starts with: ${this.toString().slice(0, 60)}...)`,
      );
    }
    const bytes = new Uint8Array(text.length + 1);
    bytes.set(text);
    mem.write(addr, bytes);
    return text.length;
  }
}
