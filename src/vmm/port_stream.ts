/**
 * A named virtio-console port seen from the host as a pair of web streams.
 *
 * @module
 */

import type { ConsoleDevice } from "../virtio/console/device.ts";

/**
 * The host end of a console port: what the guest writes comes out of `readable`; bytes written
 * to `writable` reach the guest (each write resolves once the guest has taken it).
 *
 * @example
 * ```ts
 * const port = machine.port("denovmm.agent");
 * const writer = port.writable.getWriter();
 * await writer.write(new TextEncoder().encode("ping\n"));
 * for await (const chunk of port.readable) console.log(chunk);
 * ```
 */
export class PortStream {
  /** The port's name (the guest sees /dev/virtio-ports/NAME). */
  readonly name: string;
  /** What the guest writes to the port. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes for the guest; each write resolves once the guest has taken them. */
  readonly writable: WritableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  /**
   * Wraps port `id` of a console device.
   *
   * @example
   * ```ts
   * new PortStream("agent", () => consoleDevice, 1);
   * ```
   */
  constructor(name: string, device: () => ConsoleDevice, id: number) {
    this.name = name;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => device().sendInput(id, chunk),
    });
  }

  /** Delivers guest output (copied: the device reuses its buffer). */
  push(bytes: Uint8Array): void {
    if (!this.#closed) this.#controller.enqueue(bytes.slice());
  }

  /** Ends `readable` (the VM stopped). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller.close();
    } catch { /* already closed by the reader */ }
  }
}
