/**
 * The host side of the guest agent protocol (guest/agent/PROTOCOL.md) over any byte channel: the
 * VM's `denovmm.agent` console port, or the agent's stdin/stdout in tests.
 *
 * @module
 */

import {
  AgentProtocolError,
  decodeExit,
  encodeExec,
  encodeFrame,
  type ExecRequest,
  FRAME,
  type Frame,
  FrameDecoder,
  MAX_PAYLOAD,
  OUTPUT_WINDOW,
  PayloadReader,
  PayloadWriter,
  PROTOCOL_VERSION,
} from "./protocol.ts";
import {
  AgentCommand,
  type CommandSinks,
  type CommandState,
  Deferred,
  type OutputStream,
} from "./agent_command.ts";

export { AgentCommand, type CommandSinks, type OutputStream } from "./agent_command.ts";

/**
 * Output credit goes back to the agent in batches of at least this many bytes per stream. Less
 * than {@link OUTPUT_WINDOW}, so a reader that has taken everything always frees the agent.
 */
const CREDIT_BATCH = 65536;

/** A byte channel to the agent. */
export interface AgentChannel {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/** The guest refused a request (an ERROR frame): the command never ran, or a file failed. */
export class AgentRequestError extends Error {
  /** @example `throw new AgentRequestError("cannot read /nope: No such file or directory")` */
  constructor(message: string) {
    super(message);
    this.name = "AgentRequestError";
  }
}

/** The channel to the agent is gone (the VM ended, or the stream broke). */
export class AgentClosedError extends Error {
  /** @example `throw new AgentClosedError("the guest kernel panicked")` */
  constructor(message: string) {
    super(message);
    this.name = "AgentClosedError";
  }
}

/** What the agent says when it is up. */
export interface AgentReady {
  version: number;
  /** The guest kernel's release (`uname -r`). */
  kernelRelease: string;
}

/** Options of {@link AgentClient}. */
export interface AgentClientOptions {
  /** Why the channel ended, asked once it has (e.g. how the VM exited). */
  explainClose?: () => Promise<string>;
}

interface TransferState {
  chunks: Uint8Array[];
  done: Deferred<Uint8Array>;
}

/**
 * Talks to one guest agent. Every request is a frame on the same channel; frames are written in
 * call order and each request has its own id, so calls may overlap freely.
 *
 * @example
 * ```ts
 * const client = new AgentClient(machine.port("denovmm.agent"));
 * console.log(await client.ready); // { version: 2, kernelRelease: "6.1.0-denovmm" }
 * ```
 */
export class AgentClient {
  /** Resolves when the agent has said READY; rejects if the channel ends first. */
  readonly ready: Promise<AgentReady>;
  readonly #ready = new Deferred<AgentReady>();
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #commands = new Map<number, CommandState>();
  readonly #transfers = new Map<number, TransferState>();
  readonly #closed = new Deferred<never>();
  readonly #shutdown = new Deferred<void>();
  readonly #explain: () => Promise<string>;
  #error?: Error;
  #nextId = 1;

  /** @example `new AgentClient({ readable, writable })` */
  constructor(channel: AgentChannel, opts: AgentClientOptions = {}) {
    this.ready = this.#ready.promise;
    this.#explain = opts.explainClose ?? (() => Promise.resolve("the channel ended"));
    this.#writer = channel.writable.getWriter();
    this.#readLoop(channel.readable);
  }

  /** The error that ended the channel, once it has ended. */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Starts a command; output goes to `sinks` as it comes.
   *
   * @example
   * ```ts
   * const cmd = client.exec({ argv: ["true"], env: [], cwd: "/", stdinPipe: false }, sinks);
   * ```
   */
  exec(req: ExecRequest, sinks: CommandSinks): AgentCommand {
    const payload = encodeExec(req); // throws on a bad request before anything is sent
    const id = this.#takeId();
    const state: CommandState = {
      label: req.argv.join(" "),
      sinks,
      pid: new Deferred(),
      exit: new Deferred(),
      inflight: 0,
      creditWaiters: [],
      outstanding: [0, 0],
      released: [0, 0],
    };
    this.#commands.set(id, state);
    if (this.#error) this.#failCommand(state, this.#error);
    else this.send(FRAME.EXEC, id, payload).catch((e) => this.#failCommand(state, e));
    return new AgentCommand(this, id, state);
  }

  /**
   * Creates or truncates `path` in the guest and writes `data` into it.
   *
   * @example
   * ```ts
   * await client.writeFile("/tmp/a", new TextEncoder().encode("hi"), 0o644);
   * ```
   */
  async writeFile(path: string, data: Uint8Array, mode: number): Promise<void> {
    const { id, done } = this.#transfer(path);
    await this.send(FRAME.FILE_WRITE, id, new PayloadWriter().u32(mode).string(path).finish());
    for (let at = 0; at < data.length && !done.settled; at += MAX_PAYLOAD) {
      await this.send(FRAME.FILE_DATA, id, data.slice(at, at + MAX_PAYLOAD));
    }
    if (!done.settled) await this.send(FRAME.FILE_END, id);
    await done.promise;
  }

  /**
   * Reads a whole file from the guest.
   *
   * @example
   * ```ts
   * const bytes = await client.readFile("/etc/hostname");
   * ```
   */
  async readFile(path: string): Promise<Uint8Array> {
    const { id, done } = this.#transfer(path);
    await this.send(FRAME.FILE_READ, id, new PayloadWriter().string(path).finish());
    return await done.promise;
  }

  /**
   * Asks the agent to kill every command and exit (the guest then reboots); resolves when it has
   * answered or the channel has ended.
   *
   * @example
   * ```ts
   * await client.shutdown();
   * ```
   */
  async shutdown(): Promise<void> {
    if (this.#error) return;
    await this.send(FRAME.SHUTDOWN, 0).catch(() => {});
    await this.#shutdown.promise.catch(() => {});
  }

  /** @internal Hands output credit back to a running command ({@link AgentCommand.releaseOutput}). */
  releaseOutput(id: number, stream: OutputStream, bytes: number): void {
    const c = this.#commands.get(id);
    if (c === undefined || this.#error) return;
    c.released[stream] = Math.min(c.outstanding[stream], c.released[stream] + bytes);
    if (c.released[0] < CREDIT_BATCH && c.released[1] < CREDIT_BATCH) return;
    const [out, err] = c.released;
    c.outstanding[0] -= out;
    c.outstanding[1] -= err;
    c.released = [0, 0];
    this.send(FRAME.OUTPUT_CREDIT, id, new PayloadWriter().u32(out).u32(err).finish())
      .catch(() => {}); // a closed channel fails the command by itself
  }

  /** @internal Writes one frame; rejects once the channel has ended. */
  async send(type: number, id: number, payload?: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    // A port write resolves when the guest takes the bytes, which never happens once it is gone.
    await Promise.race([this.#writer.write(encodeFrame(type, id, payload)), this.#closed.promise]);
  }

  #takeId(): number {
    let id = this.#nextId;
    while (id === 0 || this.#commands.has(id) || this.#transfers.has(id)) id = (id + 1) >>> 0;
    this.#nextId = (id + 1) >>> 0;
    return id;
  }

  #transfer(path: string): { id: number; done: Deferred<Uint8Array> } {
    if (path.includes("\0")) {
      throw new TypeError(`A path contains a NUL byte: ${JSON.stringify(path)}`);
    }
    if (this.#error) throw this.#error;
    const id = this.#takeId();
    const done = new Deferred<Uint8Array>();
    this.#transfers.set(id, { chunks: [], done });
    done.promise.then(() => this.#transfers.delete(id), () => this.#transfers.delete(id));
    return { id, done };
  }

  async #readLoop(readable: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new FrameDecoder((f) => this.#onFrame(f));
    let why: Error | undefined;
    try {
      for await (const chunk of readable) decoder.push(chunk);
    } catch (e) {
      why = e instanceof AgentProtocolError ? e : new AgentClosedError(`${(e as Error).message}`);
    }
    if (why === undefined) {
      const reason = await this.#explain().catch((e) => String(e));
      why = new AgentClosedError(`The guest agent's channel closed: ${reason}`);
    }
    this.#fail(why);
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case FRAME.READY: {
        const r = new PayloadReader(f.payload);
        const version = r.u32();
        if (version !== PROTOCOL_VERSION) {
          throw new AgentProtocolError(
            `the guest agent speaks protocol version ${version}, this denovmm needs ` +
              `${PROTOCOL_VERSION}: rebuild the guest with \`deno task guest\``,
          );
        }
        this.#ready.resolve({ version, kernelRelease: r.string() });
        return;
      }
      case FRAME.STARTED:
        this.#commands.get(f.id)?.pid.resolve(new PayloadReader(f.payload).u32());
        return;
      case FRAME.STDOUT:
      case FRAME.STDERR: {
        const c = this.#commands.get(f.id);
        if (c === undefined) return;
        const stream: OutputStream = f.type === FRAME.STDOUT ? 0 : 1;
        const n = f.payload.length;
        // The window bounds what the host holds for a reader that does not read; an agent that
        // ignores it is broken or hostile.
        if (c.outstanding[stream] + n > OUTPUT_WINDOW) {
          throw new AgentProtocolError(
            `the agent sent more ${stream === 0 ? "stdout" : "stderr"} of \`${c.label}\` than ` +
              `the host granted (${OUTPUT_WINDOW} bytes)`,
          );
        }
        c.outstanding[stream] += n;
        const chunk = f.payload.slice();
        if (stream === 0) c.sinks.stdout(chunk);
        else c.sinks.stderr(chunk);
        if (!c.sinks.paced) this.releaseOutput(f.id, stream, n);
        return;
      }
      case FRAME.EXIT: {
        const c = this.#commands.get(f.id);
        if (c === undefined) return;
        this.#commands.delete(f.id);
        c.exit.resolve(decodeExit(f.payload));
        c.creditWaiters.splice(0).forEach((w) => w());
        return;
      }
      case FRAME.CREDIT: {
        const c = this.#commands.get(f.id);
        if (c === undefined) return;
        c.inflight = Math.max(0, c.inflight - new PayloadReader(f.payload).u32());
        c.creditWaiters.splice(0).forEach((w) => w());
        return;
      }
      case FRAME.FILE_DATA:
        this.#transfers.get(f.id)?.chunks.push(f.payload.slice());
        return;
      case FRAME.FILE_END: {
        const t = this.#transfers.get(f.id);
        t?.done.resolve(concat(t.chunks));
        return;
      }
      case FRAME.OK:
        if (f.id === 0) this.#shutdown.resolve();
        else this.#transfers.get(f.id)?.done.resolve(new Uint8Array(0));
        return;
      case FRAME.ERROR: {
        const err = new AgentRequestError(new PayloadReader(f.payload).string());
        const c = this.#commands.get(f.id);
        if (c !== undefined) {
          this.#commands.delete(f.id);
          this.#failCommand(c, err);
        }
        this.#transfers.get(f.id)?.done.reject(err);
        return;
      }
      default:
        throw new AgentProtocolError(`the guest sent a frame of host-only type ${f.type}`);
    }
  }

  #failCommand(c: CommandState, e: Error): void {
    c.pid.reject(e);
    c.exit.reject(e);
    c.creditWaiters.splice(0).forEach((w) => w());
  }

  #fail(e: Error): void {
    if (this.#error) return;
    this.#error = e;
    this.#closed.reject(e);
    this.#ready.reject(e);
    this.#shutdown.resolve(); // the agent is gone either way
    for (const c of this.#commands.values()) {
      this.#failCommand(c, new AgentClosedError(`\`${c.label}\` did not finish: ${e.message}`));
    }
    this.#commands.clear();
    for (const t of this.#transfers.values()) t.done.reject(e);
    this.#writer.abort(e).catch(() => {});
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
