import assert from "node:assert/strict";
import { LineSink } from "./line_sink.ts";

Deno.test("LineSink: creates a missing file, appends whole lines, keeps earlier ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/metrics.json`;
    await Deno.writeTextFile(path, "earlier\n");
    const s = LineSink.open(path);
    assert.equal(s.writeLine('{"a":1}'), true);
    assert.equal(s.writeLine('{"a":2}'), true);
    s.close();
    s.close();
    assert.equal(await Deno.readTextFile(path), 'earlier\n{"a":1}\n{"a":2}\n');
    assert.throws(() => s.writeLine("x"), /is closed/);
    const fresh = LineSink.open(`${dir}/new.log`);
    fresh.writeLine("hello");
    fresh.close();
    assert.equal(await Deno.readTextFile(`${dir}/new.log`), "hello\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LineSink: a FIFO opens without a reader; once full, writes fail instead of blocking", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/metrics.fifo`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success);
    const s = LineSink.open(fifo); // would block forever with a plain write-only open
    const line = "x".repeat(1000);
    let written = 0;
    while (s.writeLine(line)) {
      written++;
      assert.ok(written < 10_000, "a pipe buffer is finite");
    }
    assert.ok(written >= 60, `${written} lines fit in the pipe`);
    assert.equal(s.missed, 1);
    assert.match(s.lastError!, /not keeping up/);
    s.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LineSink: an impossible path throws naming the path and the reason", () => {
  assert.throws(
    () => LineSink.open("/nonexistent-dir/metrics.json"),
    /open \/nonexistent-dir\/metrics\.json failed: No such file or directory \(ENOENT\)/,
  );
});
