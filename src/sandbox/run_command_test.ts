/** `run` and `spawn` semantics against the real agent as a host process (no VM needed). */

import assert from "node:assert/strict";
import { AgentClient } from "../agent/client.ts";
import { CAN_BUILD_AGENT, startAgentProcess } from "../agent/agent_process.ts";
import { runCommand } from "./run_command.ts";
import { CommandTimeoutError } from "./run_types.ts";
import { startCommand, statusOf } from "./sandbox_process.ts";

Deno.test("statusOf: an exit is its status; a signal is 128 + its number, by name", () => {
  assert.deepEqual(statusOf({ status: 3, signal: 0 }), { exitCode: 3, signal: null });
  assert.deepEqual(statusOf({ status: 0, signal: 9 }), { exitCode: 137, signal: "SIGKILL" });
  assert.deepEqual(statusOf({ status: 0, signal: 64 }), { exitCode: 192, signal: "SIG64" });
});

Deno.test({
  name: "runCommand/startCommand over the host agent: timeout, stdin kinds, env checks",
  ignore: !CAN_BUILD_AGENT,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "denovmm-run-" });
    await using agent = await startAgentProcess(dir);
    const client = new AgentClient(agent);
    await client.ready;
    // The guest's default PATH and cwd do not exist on every host: give both.
    const base = { env: { PATH: "/usr/bin:/bin" }, cwd: dir };

    await t.step("a timeout kills the process group and rejects with what it printed", async () => {
      const t0 = performance.now();
      await assert.rejects(
        runCommand(client, "sh", {
          ...base,
          args: ["-c", "echo hi; sleep 30 & wait"],
          timeoutMs: 300,
        }),
        (e: Error) =>
          e instanceof CommandTimeoutError && e.result.stdout === "hi\n" &&
          e.result.signal === "SIGKILL" &&
          /`sh -c echo hi; sleep 30 & wait` did not finish within 300 ms/.test(e.message),
      );
      assert.ok(performance.now() - t0 < 10_000);
    });

    await t.step(
      "stdin as a string, bytes and a stream; a command that ignores stdin",
      async () => {
        assert.equal((await runCommand(client, "cat", { ...base, stdin: "text" })).stdout, "text");
        const bytes = new Uint8Array([0, 255, 10, 0]);
        assert.deepEqual(
          (await runCommand(client, "cat", { ...base, stdin: bytes })).stdoutBytes,
          bytes,
        );
        const stream = ReadableStream.from([
          new TextEncoder().encode("a"),
          new TextEncoder().encode("b"),
        ]);
        assert.equal((await runCommand(client, "cat", { ...base, stdin: stream })).stdout, "ab");
        const big = new Uint8Array(1 << 20);
        assert.equal((await runCommand(client, "true", { ...base, stdin: big })).exitCode, 0);
      },
    );

    await t.step(
      "environment names with '=' or empty are refused before anything is sent",
      async () => {
        await assert.rejects(
          runCommand(client, "true", { ...base, env: { "A=B": "1" } }),
          TypeError,
        );
        assert.throws(() => startCommand(client, "true", { ...base, env: { "": "1" } }), TypeError);
      },
    );

    await t.step("spawn: stderr stream, kill by name, wait", async () => {
      const p = startCommand(client, "sh", {
        ...base,
        args: ["-c", "echo oops >&2; exec sleep 30"],
      });
      const reader = p.stderr.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "oops\n");
      await p.kill("SIGINT");
      assert.deepEqual(await p.wait(), { exitCode: 130, signal: "SIGINT" });
      assert.equal((await reader.read()).done, true);
    });
    await t.step(
      "spawn: a reader that falls behind holds the command back, then gets it all",
      async () => {
        const p = startCommand(client, "sh", {
          ...base,
          args: ["-c", "head -c 3000000 /dev/zero; echo done >&2"],
        });
        let exited = false;
        const status = p.wait().then((s) => ((exited = true), s));
        const errText = new Response(p.stderr).text();
        // 3 MB is far more than the pipe and the output window hold together.
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(exited, false, "the command waits for its reader");
        let n = 0;
        for await (const chunk of p.stdout) n += chunk.length;
        assert.equal(n, 3_000_000);
        assert.deepEqual(await status, { exitCode: 0, signal: null });
        assert.equal(await errText, "done\n");
      },
    );
    await client.shutdown();
    await Deno.remove(dir, { recursive: true });
  },
});
