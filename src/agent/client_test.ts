/**
 * The client against the real agent (guest/agent/agent.c compiled for this host), its frames over
 * pipes: everything the guest does, except that the commands run on the host, in a temp dir.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { AgentClient, AgentClosedError, AgentRequestError, type CommandSinks } from "./client.ts";
import { CAN_BUILD_AGENT, startAgentProcess } from "./agent_process.ts";
import {
  encodeFrame,
  FRAME,
  OUTPUT_WINDOW,
  PayloadWriter,
  PROTOCOL_VERSION,
  STDIN_WINDOW,
} from "./protocol.ts";

const ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"];

interface Output {
  sinks: CommandSinks;
  stdout(): Uint8Array;
  stderr(): string;
  /** Which stream each chunk came from, in arrival order. */
  order: string[];
}

function output(): Output {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const order: string[] = [];
  const join = (parts: Uint8Array[]) => {
    const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (b.set(p, at), at + p.length), 0);
    return b;
  };
  return {
    sinks: {
      stdout: (b) => (out.push(b), order.push("out")),
      stderr: (b) => (err.push(b), order.push("err")),
    },
    stdout: () => join(out),
    stderr: () => new TextDecoder().decode(join(err)),
    order,
  };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test({
  name: "agent over pipes: commands, streams, files, signals, concurrency, shutdown",
  ignore: !CAN_BUILD_AGENT,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "denovmm-agent-" });
    await using agent = await startAgentProcess(dir);
    const client = new AgentClient(agent);
    const ready = await client.ready;
    const run = async (argv: string[], o: { cwd?: string; env?: string[] } = {}) => {
      const out = output();
      const cmd = client.exec(
        { argv, env: o.env ?? ENV, cwd: o.cwd ?? dir, stdinPipe: false },
        out.sinks,
      );
      return { exit: await cmd.exit, out, pid: await cmd.pid };
    };

    await t.step("READY names the protocol version and the kernel release", () => {
      assert.equal(ready.version, PROTOCOL_VERSION);
      assert.equal(ready.kernelRelease, Deno.osRelease());
    });

    await t.step("exit codes 0, 1 and 127 (with the reason on stderr)", async () => {
      assert.deepEqual((await run(["true"])).exit, { status: 0, signal: 0 });
      assert.deepEqual((await run(["false"])).exit, { status: 1, signal: 0 });
      const missing = await run(["no-such-program-xyz"]);
      assert.deepEqual(missing.exit, { status: 127, signal: 0 });
      assert.match(missing.out.stderr(), /cannot run no-such-program-xyz: No such file/);
      const badCwd = await run(["true"], { cwd: `${dir}/nope` });
      assert.equal(badCwd.exit.status, 125);
      assert.match(badCwd.out.stderr(), /cannot change to directory/);
    });

    await t.step("a script without #! runs with sh, as a shell would run it", async () => {
      await client.writeFile(
        `${dir}/script`,
        new TextEncoder().encode("echo from script $1\n"),
        0o755,
      );
      const r = await run(["./script", "arg"]);
      assert.equal(r.exit.status, 0, r.out.stderr());
      assert.equal(new TextDecoder().decode(r.out.stdout()), "from script arg\n");
    });

    await t.step("stdout and stderr stay apart; env and cwd are the ones asked for", async () => {
      const r = await run(["sh", "-c", 'echo "out $FOO"; echo err >&2; pwd'], {
        env: [...ENV, "FOO=bar baz"],
        cwd: "/",
      });
      assert.equal(new TextDecoder().decode(r.out.stdout()), "out bar baz\n/\n");
      assert.equal(r.out.stderr(), "err\n");
      assert.ok(r.pid > 1);
    });

    await t.step("1 MiB of binary output arrives intact and before EXIT", async () => {
      const data = new Uint8Array(1 << 20);
      for (let i = 0; i < data.length; i += 65536) {
        crypto.getRandomValues(data.subarray(i, i + 65536));
      }
      await client.writeFile(`${dir}/blob`, data, 0o600);
      assert.equal((await Deno.stat(`${dir}/blob`)).mode! & 0o777, 0o600);
      const r = await run(["cat", "blob"]);
      assert.equal(r.exit.status, 0);
      assert.equal(sha(r.out.stdout()), sha(data));
      assert.equal(sha(await client.readFile(`${dir}/blob`)), sha(data));
    });

    await t.step("stdin round trip larger than the credit window, then end of file", async () => {
      const data = new Uint8Array(STDIN_WINDOW * 3 + 17).map((_, i) => (i * 31) & 0xff);
      const out = output();
      const cmd = client.exec({ argv: ["cat"], env: ENV, cwd: dir, stdinPipe: true }, out.sinks);
      await cmd.writeStdin(data);
      await cmd.closeStdin();
      assert.equal((await cmd.exit).status, 0);
      assert.equal(sha(out.stdout()), sha(data));
    });

    await t.step("without a stdin pipe the command reads /dev/null", async () => {
      const r = await run(["sh", "-c", "cat; echo done"]);
      assert.equal(new TextDecoder().decode(r.out.stdout()), "done\n");
    });

    await t.step("KILL reaches the command's process group; EXIT reports the signal", async () => {
      const out = output();
      const cmd = client.exec(
        {
          argv: ["sh", "-c", "sleep 30 & sleep 30; echo never"],
          env: ENV,
          cwd: dir,
          stdinPipe: false,
        },
        out.sinks,
      );
      await cmd.pid;
      await cmd.kill(15);
      assert.deepEqual(await cmd.exit, { status: 0, signal: 15 });
      assert.equal(out.stdout().length, 0);
    });

    await t.step("two concurrent commands: each one's output is its own, unmixed", async () => {
      const script = (c: string) =>
        `i=0; while [ $i -lt 2000 ]; do echo ${c}${c}${c}${c}; i=$((i+1)); done`;
      const a = output();
      const b = output();
      const ca = client.exec({
        argv: ["sh", "-c", script("a")],
        env: ENV,
        cwd: dir,
        stdinPipe: false,
      }, a.sinks);
      const cb = client.exec({
        argv: ["sh", "-c", script("b")],
        env: ENV,
        cwd: dir,
        stdinPipe: false,
      }, b.sinks);
      await Promise.all([ca.exit, cb.exit]);
      assert.equal(new TextDecoder().decode(a.stdout()), "aaaa\n".repeat(2000));
      assert.equal(new TextDecoder().decode(b.stdout()), "bbbb\n".repeat(2000));
    });

    await t.step(
      "output flow control: a paced reader that takes nothing holds the command at the window",
      async () => {
        let received = 0;
        let errText = "";
        const cmd = client.exec(
          {
            argv: ["sh", "-c", "head -c 1000000 /dev/zero; echo done >&2"],
            env: ENV,
            cwd: dir,
            stdinPipe: false,
          },
          {
            stdout: (b) => void (received += b.length),
            stderr: (b) => void (errText += new TextDecoder().decode(b)),
            paced: true,
          },
        );
        const deadline = Date.now() + 30_000;
        while (received < OUTPUT_WINDOW && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(received, OUTPUT_WINDOW, "the agent sends up to its window");
        // Unpaced, the million bytes take milliseconds; paced, nothing more may come.
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(received, OUTPUT_WINDOW, "nothing beyond the window");
        assert.equal(errText, "", "the command is still blocked on its stdout");
        let released = 0;
        while (released < 1_000_000) {
          const n = received - released;
          if (n > 0) {
            cmd.releaseOutput(0, n);
            released += n;
          } else {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
        assert.deepEqual(await cmd.exit, { status: 0, signal: 0 });
        assert.equal(received, 1_000_000);
        assert.equal(errText, "done\n");
      },
    );

    await t.step("file errors are request errors with the guest's reason", async () => {
      await assert.rejects(
        client.readFile(`${dir}/missing`),
        (e: Error) =>
          e instanceof AgentRequestError && /cannot read .*missing: No such file/.test(e.message),
      );
      await assert.rejects(
        client.writeFile(`${dir}/no/such/dir/f`, new Uint8Array(70000), 0o644),
        AgentRequestError,
      );
      assert.equal((await client.readFile(`${dir}/blob`)).length, 1 << 20); // still usable
    });

    await t.step("SHUTDOWN kills what runs and ends the agent with status 0", async () => {
      const cmd = client.exec(
        { argv: ["sleep", "30"], env: ENV, cwd: dir, stdinPipe: false },
        output().sinks,
      );
      await cmd.pid;
      await client.shutdown();
      assert.equal((await agent.child.status).code, 0);
      await assert.rejects(cmd.exit, AgentClosedError);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "agent over pipes: the agent dying mid-command fails the call with the reason",
  ignore: !CAN_BUILD_AGENT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "denovmm-agent-" });
    await using agent = await startAgentProcess(dir);
    const client = new AgentClient(agent, { explainClose: () => Promise.resolve("it was killed") });
    await client.ready;
    const cmd = client.exec(
      { argv: ["sleep", "30"], env: ENV, cwd: dir, stdinPipe: false },
      output().sinks,
    );
    await cmd.pid;
    agent.child.kill("SIGKILL");
    await assert.rejects(
      cmd.exit,
      (e: Error) =>
        e instanceof AgentClosedError &&
        /`sleep 30` did not finish: .*it was killed/.test(e.message),
    );
    await assert.rejects(client.readFile("/etc/hostname"), AgentClosedError);
    assert.throws(
      () => client.exec({ argv: ["x\0"], env: [], cwd: "/", stdinPipe: false }, output().sinks),
      TypeError,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "agent over pipes: a bad frame from the host makes the agent exit 2 and say why",
  ignore: !CAN_BUILD_AGENT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "denovmm-agent-" });
    await using agent = await startAgentProcess(dir);
    const w = agent.writable.getWriter();
    const bad = encodeFrame(FRAME.STDIN, 1);
    new DataView(bad.buffer).setUint32(0, 1 << 20, true);
    await w.write(bad);
    assert.equal((await agent.child.status).code, 2);
    await agent.readable.cancel();
    assert.match(agent.stderr(), /bad frame header/);
    await Deno.remove(dir, { recursive: true });
  },
});

/** A fake agent: the frames it sends, and what the host writes to it (discarded). */
function fakeAgent(frames: Uint8Array[]) {
  return {
    readable: new ReadableStream<Uint8Array>({
      start(c) {
        for (const f of frames) c.enqueue(f);
      },
    }),
    writable: new WritableStream<Uint8Array>(),
  };
}

const readyFrame = (version: number) =>
  encodeFrame(FRAME.READY, 0, new PayloadWriter().u32(version).string("6.1-fake").finish());

Deno.test("client: an agent of another protocol version is refused, saying what to do", async () => {
  const client = new AgentClient(fakeAgent([readyFrame(1)]));
  await assert.rejects(
    client.ready,
    /speaks protocol version 1, this denovmm needs 2: rebuild the guest with `deno task guest`/,
  );
});

Deno.test("client: output beyond the granted window is a protocol error that fails the command", async () => {
  const started = encodeFrame(FRAME.STARTED, 1, new PayloadWriter().u32(42).finish());
  const chunk = encodeFrame(FRAME.STDOUT, 1, new Uint8Array(65536));
  // Four full chunks fill the window; the fifth is more than the host granted.
  const client = new AgentClient(
    fakeAgent([readyFrame(PROTOCOL_VERSION), started, chunk, chunk, chunk, chunk, chunk]),
  );
  await client.ready;
  let got = 0;
  const cmd = client.exec({ argv: ["yes"], env: [], cwd: "/", stdinPipe: false }, {
    stdout: (b) => void (got += b.length),
    stderr: () => {},
    paced: true,
  });
  await assert.rejects(cmd.exit, /more stdout of `yes` than the host granted \(262144 bytes\)/);
  assert.equal(got, OUTPUT_WINDOW);
});
