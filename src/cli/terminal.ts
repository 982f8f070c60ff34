/**
 * Connects the host terminal to the guest console: stdin bytes go to the guest (the terminal in
 * raw mode so keys such as Ctrl-C reach the guest), and `Ctrl-A x` quits, as in QEMU. Raw mode is
 * restored on every exit path through the returned disposer and an `unload` listener.
 *
 * @module
 */

/** Where console input goes: resolves once the guest has taken the bytes. */
export type ConsoleInputSink = (bytes: Uint8Array) => Promise<void>;

const CTRL_A = 0x01;

/**
 * Splits host keystrokes into guest input and escape commands (`Ctrl-A x` quit, `Ctrl-A Ctrl-A`
 * sends one Ctrl-A). Pure, so it is tested without a terminal.
 *
 * @example
 * ```ts
 * const esc = new EscapeFilter();
 * esc.filter(new Uint8Array([0x61, 0x01, 0x78])); // { data: [0x61], quit: true }
 * ```
 */
export class EscapeFilter {
  #pendingEscape = false;

  /** Returns the bytes for the guest and whether the user asked to quit. */
  filter(input: Uint8Array): { data: Uint8Array; quit: boolean } {
    const out: number[] = [];
    for (const b of input) {
      if (this.#pendingEscape) {
        this.#pendingEscape = false;
        if (b === 0x78 /* x */ || b === 0x18 /* Ctrl-X */) {
          return { data: new Uint8Array(out), quit: true };
        }
        if (b === CTRL_A) out.push(CTRL_A);
        continue; // unknown escape: dropped
      }
      if (b === CTRL_A) this.#pendingEscape = true;
      else out.push(b);
    }
    return { data: new Uint8Array(out), quit: false };
  }
}

/**
 * Pumps host stdin into `sink` until stdin ends or the user quits. Returns a disposer that
 * restores the terminal and stops pumping.
 *
 * @example
 * ```ts
 * using _term = attachTerminal((b) => machine.consoleWrite(b), () => machine.stop());
 * ```
 */
export function attachTerminal(sink: ConsoleInputSink, onQuit: () => void): Disposable {
  const stdin = Deno.stdin;
  const tty = stdin.isTerminal();
  let stopped = false;
  const restore = () => {
    if (tty) {
      try {
        stdin.setRaw(false);
      } catch { /* stdin already closed */ }
    }
  };
  if (tty) {
    stdin.setRaw(true);
    globalThis.addEventListener("unload", restore);
    Deno.stderr.writeSync(
      new TextEncoder().encode("[denovmm] console attached; Ctrl-A x quits\r\n"),
    );
  }
  const escape = new EscapeFilter();
  const pump = async () => {
    const buf = new Uint8Array(4096);
    while (!stopped) {
      let n: number | null;
      try {
        n = await stdin.read(buf);
      } catch {
        return;
      }
      if (n === null || stopped) return;
      const { data, quit } = tty
        ? escape.filter(buf.subarray(0, n))
        : { data: buf.slice(0, n), quit: false };
      if (data.length > 0) await sink(data);
      if (quit) {
        onQuit();
        return;
      }
    }
  };
  pump();
  return {
    [Symbol.dispose]() {
      stopped = true;
      restore();
      globalThis.removeEventListener("unload", restore);
    },
  };
}
