import assert from "node:assert/strict";
import {
  AgentProtocolError,
  decodeExec,
  decodeExit,
  encodeExec,
  encodeFrame,
  FRAME,
  type Frame,
  FrameDecoder,
  HEADER_SIZE,
  MAX_PAYLOAD,
  PayloadReader,
  PayloadWriter,
} from "./protocol.ts";

function collect(): { frames: Frame[]; decoder: FrameDecoder } {
  const frames: Frame[] = [];
  // Copies: the decoder may reuse the payload's memory after the callback.
  const decoder = new FrameDecoder((f) => frames.push({ ...f, payload: f.payload.slice() }));
  return { frames, decoder };
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(b.subarray(at, at + 65536));
  return b;
}

Deno.test("encodeFrame: 12-byte little-endian header, then the payload", () => {
  const f = encodeFrame(FRAME.STDOUT, 0x01020304, new Uint8Array([9, 8, 7]));
  assert.deepEqual([...f], [3, 0, 0, 0, 130, 0, 0, 0, 4, 3, 2, 1, 9, 8, 7]);
  assert.equal(encodeFrame(FRAME.SHUTDOWN, 0).length, HEADER_SIZE);
  assert.throws(() => encodeFrame(FRAME.STDIN, 1, new Uint8Array(MAX_PAYLOAD + 1)), RangeError);
});

Deno.test("FrameDecoder: frames split at every byte, and many frames in one chunk", () => {
  const payloads = [new Uint8Array(0), randomBytes(1), randomBytes(300), randomBytes(MAX_PAYLOAD)];
  const stream = new Uint8Array(payloads.reduce((n, p) => n + HEADER_SIZE + p.length, 0));
  let at = 0;
  payloads.forEach((p, i) => {
    const f = encodeFrame(FRAME.STDERR, i + 1, p);
    stream.set(f, at);
    at += f.length;
  });
  for (const step of [1, 7, 4096, stream.length]) {
    const { frames, decoder } = collect();
    for (let i = 0; i < stream.length; i += step) decoder.push(stream.subarray(i, i + step));
    assert.equal(frames.length, payloads.length, `step ${step}`);
    frames.forEach((f, i) => {
      assert.equal(f.type, FRAME.STDERR);
      assert.equal(f.id, i + 1);
      assert.deepEqual(f.payload, payloads[i], `step ${step}, frame ${i}`);
    });
    assert.equal(decoder.buffered, 0);
  }
});

Deno.test("FrameDecoder: 1 MiB of binary data in 16 frames, fed in odd-sized chunks, is intact", () => {
  const data = randomBytes(1 << 20);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += MAX_PAYLOAD) {
    parts.push(encodeFrame(FRAME.STDOUT, 5, data.subarray(i, i + MAX_PAYLOAD)));
  }
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (stream.set(p, at), at + p.length), 0);
  const { frames, decoder } = collect();
  for (let i = 0, step = 1; i < stream.length; i += step, step = (step * 7 + 3) % 99991 + 1) {
    decoder.push(stream.subarray(i, i + step));
  }
  const got = new Uint8Array(data.length);
  frames.reduce((at, f) => (got.set(f.payload, at), at + f.payload.length), 0);
  assert.equal(frames.length, 16);
  assert.deepEqual(got, data);
});

Deno.test("FrameDecoder: an oversized length is refused from its header alone, then always", () => {
  const { frames, decoder } = collect();
  const h = encodeFrame(FRAME.STDOUT, 1);
  new DataView(h.buffer).setUint32(0, MAX_PAYLOAD + 1, true);
  assert.throws(
    () => decoder.push(h),
    (e: Error) => e instanceof AgentProtocolError && /65537 bytes/.test(e.message),
  );
  assert.throws(() => decoder.push(encodeFrame(FRAME.STDOUT, 1)), AgentProtocolError);
  assert.equal(frames.length, 0);
});

Deno.test("FrameDecoder: non-zero flags and unknown types are protocol errors", () => {
  const flagged = encodeFrame(FRAME.EXIT, 1);
  flagged[6] = 1;
  assert.throws(() => collect().decoder.push(flagged), /flags 0x1/);
  const unknown = encodeFrame(FRAME.EXIT, 1);
  unknown[4] = 99;
  assert.throws(() => collect().decoder.push(unknown), /unknown type 99/);
});

Deno.test("PayloadReader: a field that runs past the payload is a protocol error", () => {
  const p = new PayloadWriter().u32(7).string("hello").finish();
  const r = new PayloadReader(p);
  assert.equal(r.u32(), 7);
  assert.equal(r.string(), "hello");
  assert.throws(() => r.u32(), AgentProtocolError);
  assert.throws(() => new PayloadReader(p.subarray(4, 8)).string(), AgentProtocolError);
  assert.throws(() => decodeExit(new Uint8Array(7)), AgentProtocolError);
});

Deno.test("EXEC payload: argv, env, cwd and the stdin flag round-trip; NULs and empty argv refused", () => {
  const req = { argv: ["sh", "-c", "echo ü"], env: ["A=1", "B="], cwd: "/tmp", stdinPipe: true };
  assert.deepEqual(decodeExec(encodeExec(req)), req);
  assert.deepEqual(decodeExec(encodeExec({ ...req, stdinPipe: false })).stdinPipe, false);
  assert.throws(() => encodeExec({ ...req, argv: ["a\0b"] }), /NUL/);
  assert.throws(() => encodeExec({ ...req, env: ["X=\0"] }), /NUL/);
  assert.throws(() => encodeExec({ ...req, argv: [] }), /program name/);
  assert.throws(() => encodeExec({ ...req, argv: ["x".repeat(MAX_PAYLOAD)] }), RangeError);
});
