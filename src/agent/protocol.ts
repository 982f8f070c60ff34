/**
 * The guest agent's wire format (guest/agent/PROTOCOL.md): 12-byte frame headers, frame types,
 * and the payload encodings of each message. Pure: bytes in, values out.
 *
 * @module
 */

/** Frame header size in bytes. */
export const HEADER_SIZE = 12;
/** Largest payload either side accepts. */
export const MAX_PAYLOAD = 65536;
/** Protocol version the agent announces in READY (2: output flow control). */
export const PROTOCOL_VERSION = 2;
/** Unacknowledged stdin bytes the host allows per command. */
export const STDIN_WINDOW = 262144;
/** Output bytes per command and stream the agent may send before the host grants more. */
export const OUTPUT_WINDOW = 262144;

/** Frame types (host to guest below 128, guest to host from 128). */
export const FRAME = {
  EXEC: 1,
  STDIN: 2,
  KILL: 3,
  FILE_WRITE: 4,
  FILE_DATA: 5,
  FILE_END: 6,
  FILE_READ: 7,
  SHUTDOWN: 8,
  OUTPUT_CREDIT: 9,
  READY: 128,
  STARTED: 129,
  STDOUT: 130,
  STDERR: 131,
  EXIT: 132,
  CREDIT: 133,
  OK: 134,
  ERROR: 135,
} as const;

const KNOWN_TYPES = new Set<number>(Object.values(FRAME));

/** A decoded frame; `payload` is a view the decoder may reuse after the callback returns. */
export interface Frame {
  type: number;
  id: number;
  payload: Uint8Array;
}

/** The byte stream is not a valid frame sequence: the channel cannot be trusted any more. */
export class AgentProtocolError extends Error {
  /** @example `throw new AgentProtocolError("frame of 70000 bytes")` */
  constructor(message: string) {
    super(`Guest agent protocol error: ${message}`);
    this.name = "AgentProtocolError";
  }
}

/**
 * Encodes one frame.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame(FRAME.STDIN, 7, new TextEncoder().encode("hello\n"));
 * ```
 */
export function encodeFrame(type: number, id: number, payload: Uint8Array = EMPTY): Uint8Array {
  if (payload.length > MAX_PAYLOAD) {
    throw new RangeError(`Frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, payload.length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, id >>> 0, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

const EMPTY = new Uint8Array(0);

/**
 * Splits a byte stream into frames, however it is chunked. Validates each header as soon as it
 * is complete, so a bad length is refused before its payload is buffered.
 *
 * @example
 * ```ts
 * const d = new FrameDecoder((f) => console.log(f.type, f.id, f.payload.length));
 * d.push(chunk);
 * ```
 */
export class FrameDecoder {
  readonly #onFrame: (f: Frame) => void;
  #buf = new Uint8Array(HEADER_SIZE + 4096);
  #have = 0;
  #failed?: AgentProtocolError;

  /** @example `new FrameDecoder((f) => handle(f))` */
  constructor(onFrame: (f: Frame) => void) {
    this.#onFrame = onFrame;
  }

  /** Bytes received but not yet a whole frame. */
  get buffered(): number {
    return this.#have;
  }

  /** Feeds bytes; calls back once per complete frame; throws AgentProtocolError on a bad one. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    let at = 0;
    while (at < chunk.length) {
      if (this.#have < HEADER_SIZE) {
        const n = Math.min(HEADER_SIZE - this.#have, chunk.length - at);
        this.#buf.set(chunk.subarray(at, at + n), this.#have);
        this.#have += n;
        at += n;
        if (this.#have < HEADER_SIZE) return;
        this.#checkHeader();
      }
      const len = this.#len();
      const need = HEADER_SIZE + len - this.#have;
      const n = Math.min(need, chunk.length - at);
      if (this.#have === HEADER_SIZE && n === len) {
        // The whole payload is in this chunk: hand out a view of it, no copy.
        at += n;
        this.#have = 0;
        this.#emit(chunk.subarray(at - n, at));
        continue;
      }
      this.#ensure(HEADER_SIZE + len);
      this.#buf.set(chunk.subarray(at, at + n), this.#have);
      this.#have += n;
      at += n;
      if (this.#have === HEADER_SIZE + len) {
        this.#have = 0;
        this.#emit(this.#buf.subarray(HEADER_SIZE, HEADER_SIZE + len));
      }
    }
  }

  #len(): number {
    return new DataView(this.#buf.buffer, 0, HEADER_SIZE).getUint32(0, true);
  }

  #checkHeader(): void {
    const v = new DataView(this.#buf.buffer, 0, HEADER_SIZE);
    const len = v.getUint32(0, true);
    const type = v.getUint16(4, true);
    const flags = v.getUint16(6, true);
    let why: string | undefined;
    if (len > MAX_PAYLOAD) why = `a frame of ${len} bytes (at most ${MAX_PAYLOAD})`;
    else if (flags !== 0) why = `a frame with flags 0x${flags.toString(16)}`;
    else if (!KNOWN_TYPES.has(type)) why = `a frame of unknown type ${type}`;
    if (why !== undefined) {
      this.#failed = new AgentProtocolError(why);
      throw this.#failed;
    }
  }

  #emit(payload: Uint8Array): void {
    const v = new DataView(this.#buf.buffer, 0, HEADER_SIZE);
    this.#onFrame({ type: v.getUint16(4, true), id: v.getUint32(8, true), payload });
  }

  #ensure(size: number): void {
    if (this.#buf.length >= size) return;
    const bigger = new Uint8Array(Math.max(size, this.#buf.length * 2));
    bigger.set(this.#buf.subarray(0, this.#have));
    this.#buf = bigger;
  }
}

/**
 * Builds a payload of little-endian integers and length-prefixed strings.
 *
 * @example
 * ```ts
 * const p = new PayloadWriter().u32(1).string("/bin/true").finish();
 * ```
 */
export class PayloadWriter {
  #parts: Uint8Array[] = [];
  #size = 0;

  /** Appends a u32. */
  u32(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n >>> 0, true);
    return this.#add(b);
  }

  /** Appends a u32 length and the UTF-8 bytes of `s`. */
  string(s: string): this {
    const bytes = new TextEncoder().encode(s);
    return this.u32(bytes.length).#add(bytes);
  }

  /** The payload; throws RangeError when it would not fit in a frame. */
  finish(): Uint8Array {
    if (this.#size > MAX_PAYLOAD) {
      throw new RangeError(`The request takes ${this.#size} bytes; a frame holds ${MAX_PAYLOAD}`);
    }
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  #add(b: Uint8Array): this {
    this.#parts.push(b);
    this.#size += b.length;
    return this;
  }
}

/**
 * Reads a payload written by {@link PayloadWriter} (or the agent); throws AgentProtocolError
 * when it is shorter than its fields say.
 *
 * @example
 * ```ts
 * const r = new PayloadReader(frame.payload);
 * const status = r.u32();
 * ```
 */
export class PayloadReader {
  readonly #b: Uint8Array;
  #at = 0;

  /** @example `new PayloadReader(frame.payload)` */
  constructor(b: Uint8Array) {
    this.#b = b;
  }

  /** Reads a u32. */
  u32(): number {
    this.#need(4);
    const n = new DataView(this.#b.buffer, this.#b.byteOffset + this.#at, 4).getUint32(0, true);
    this.#at += 4;
    return n;
  }

  /** Reads a length-prefixed UTF-8 string. */
  string(): string {
    const len = this.u32();
    this.#need(len);
    const s = new TextDecoder().decode(this.#b.subarray(this.#at, this.#at + len));
    this.#at += len;
    return s;
  }

  #need(n: number): void {
    if (this.#at + n > this.#b.length) {
      throw new AgentProtocolError(
        `a payload of ${this.#b.length} bytes ends inside a field at ${this.#at}`,
      );
    }
  }
}

/** What EXEC carries. */
export interface ExecRequest {
  argv: string[];
  /** The whole environment, `KEY=VALUE`. */
  env: string[];
  cwd: string;
  /** stdin is a pipe (else /dev/null). */
  stdinPipe: boolean;
}

/**
 * Encodes an EXEC payload; throws TypeError on a NUL in any string (the guest would cut it).
 *
 * @example
 * ```ts
 * encodeExec({ argv: ["uname", "-a"], env: ["PATH=/bin"], cwd: "/", stdinPipe: false });
 * ```
 */
export function encodeExec(r: ExecRequest): Uint8Array {
  for (const s of [...r.argv, ...r.env, r.cwd]) {
    if (s.includes("\0")) {
      throw new TypeError(`A command string contains a NUL byte: ${JSON.stringify(s)}`);
    }
  }
  if (r.argv.length === 0) throw new TypeError("A command needs a program name");
  const w = new PayloadWriter().u32(r.stdinPipe ? 1 : 0).u32(r.argv.length);
  for (const a of r.argv) w.string(a);
  w.u32(r.env.length);
  for (const e of r.env) w.string(e);
  return w.string(r.cwd).finish();
}

/**
 * Decodes an EXEC payload (the agent's side, used by tests).
 *
 * @example
 * ```ts
 * decodeExec(encodeExec(req)).argv;
 * ```
 */
export function decodeExec(p: Uint8Array): ExecRequest {
  const r = new PayloadReader(p);
  const stdinPipe = (r.u32() & 1) === 1;
  const argv = Array.from({ length: r.u32() }, () => r.string());
  const env = Array.from({ length: r.u32() }, () => r.string());
  return { argv, env, cwd: r.string(), stdinPipe };
}

/** How a command ended: its exit status, or the signal that killed it. */
export interface ExitInfo {
  status: number;
  /** Linux signal number, 0 when the command exited. */
  signal: number;
}

/**
 * Decodes an EXIT payload.
 *
 * @example
 * ```ts
 * decodeExit(frame.payload); // { status: 0, signal: 0 }
 * ```
 */
export function decodeExit(p: Uint8Array): ExitInfo {
  const r = new PayloadReader(p);
  return { status: r.u32(), signal: r.u32() };
}
