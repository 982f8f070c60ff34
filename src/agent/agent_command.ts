/**
 * One command's side of the agent protocol: its state in the client, its output sinks, and the
 * {@link AgentCommand} handle callers hold.
 *
 * @module
 */

import { type ExitInfo, FRAME, MAX_PAYLOAD, PayloadWriter, STDIN_WINDOW } from "./protocol.ts";

/** A command's output stream: 0 is stdout, 1 is stderr. */
export type OutputStream = 0 | 1;

/** @internal What an {@link AgentCommand} needs of its client. */
export interface CommandChannel {
  send(type: number, id: number, payload?: Uint8Array): Promise<void>;
  releaseOutput(id: number, stream: OutputStream, bytes: number): void;
}

/** Receivers of a command's output; each chunk is the caller's to keep. */
export interface CommandSinks {
  stdout(bytes: Uint8Array): void;
  stderr(bytes: Uint8Array): void;
  /**
   * When true, the receiver hands the agent its credit back itself, with
   * {@link AgentCommand.releaseOutput}, once its reader has taken the bytes: the command then
   * stalls (as on a full pipe) while {@link OUTPUT_WINDOW} bytes of a stream wait unread. When
   * false or unset, each chunk is released as soon as the sink has it.
   */
  paced?: boolean;
}

/** @internal What the client tracks for one command. */
export interface CommandState {
  label: string;
  sinks: CommandSinks;
  pid: Deferred<number>;
  exit: Deferred<ExitInfo>;
  inflight: number;
  creditWaiters: (() => void)[];
  /** Output bytes received per stream and not yet granted back to the agent. */
  outstanding: [number, number];
  /** Of those, bytes the reader has taken (granted back with the next batch). */
  released: [number, number];
}

/** A promise with its settle functions; a rejection nobody awaits is not an unhandled one. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: Error) => void;
  settled = false;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = (v) => {
        this.settled = true;
        res(v);
      };
      this.reject = (e) => {
        this.settled = true;
        rej(e);
      };
    });
    this.promise.catch(() => {});
  }
}

/**
 * A command running in the guest, as {@link AgentClient.exec} started it.
 *
 * @example
 * ```ts
 * const cmd = client.exec({ argv: ["cat"], env: [], cwd: "/", stdinPipe: true }, sinks);
 * await cmd.writeStdin(new TextEncoder().encode("hi"));
 * await cmd.closeStdin();
 * console.log(await cmd.exit); // { status: 0, signal: 0 }
 * ```
 */
export class AgentCommand {
  /** The frame id of this command. */
  readonly id: number;
  /** The command's pid in the guest, once it has started. */
  readonly pid: Promise<number>;
  /** How the command ended; rejects if it could not start or the channel closed first. */
  readonly exit: Promise<ExitInfo>;
  readonly #client: CommandChannel;
  readonly #state: CommandState;

  /** @internal Created by {@link AgentClient.exec}. */
  constructor(client: CommandChannel, id: number, state: CommandState) {
    this.#client = client;
    this.id = id;
    this.#state = state;
    this.pid = state.pid.promise;
    this.exit = state.exit.promise;
  }

  /** Sends stdin bytes; resolves once the agent may take more (its window has room). */
  async writeStdin(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += MAX_PAYLOAD) {
      const chunk = bytes.subarray(at, at + MAX_PAYLOAD);
      while (this.#state.inflight + chunk.length > STDIN_WINDOW && !this.#state.exit.settled) {
        await new Promise<void>((r) => this.#state.creditWaiters.push(r));
      }
      if (this.#state.exit.settled) return; // it ended: the rest has nowhere to go
      this.#state.inflight += chunk.length;
      await this.#client.send(FRAME.STDIN, this.id, chunk.slice());
    }
  }

  /** Closes the command's stdin (it reads end of file). */
  async closeStdin(): Promise<void> {
    if (!this.#state.exit.settled) await this.#client.send(FRAME.STDIN, this.id);
  }

  /**
   * Gives the agent back `bytes` of output credit on `stream` (paced sinks only: the reader has
   * taken them).
   */
  releaseOutput(stream: OutputStream, bytes: number): void {
    this.#client.releaseOutput(this.id, stream, bytes);
  }

  /** Sends a signal (Linux number) to the command's process group. */
  async kill(signal: number): Promise<void> {
    if (this.#state.exit.settled) return;
    await this.#client.send(FRAME.KILL, this.id, new PayloadWriter().u32(signal).finish());
  }
}
