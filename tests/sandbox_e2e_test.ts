/**
 * End to end, scripted sandboxes: two microVMs booted at once in this process (the default
 * guest, its agent on the `denovmm.agent` console port). Both run commands side by side; then VM B
 * has its kernel crash under a running command, and VM A takes the command, stream and file
 * checks and a graceful shutdown.
 *
 * Both VMs have 2 vCPUs. During development, on a kvm_pvm host, a 1-vCPU guest running two
 * commands at once had the second one killed (SIGSEGV) right after it started, in 7 of 9 runs
 * (with the agent forking and with it using vfork). Later, 24 such pairs on 1-vCPU guests (alone,
 * beside a second VM, and in this test's order) all passed. Not root-caused, so the shared boot
 * stays on the configuration that never failed.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { findCachedGuest } from "../guest/builder.ts";
import { AgentClosedError } from "../src/agent/client.ts";
import { MicroVm } from "../src/sandbox/micro_vm.ts";
import { CommandTimeoutError } from "../src/sandbox/run_types.ts";
import { kvmUnavailableReason } from "../src/sandbox/testing.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test({
  name: "sandbox: two VMs at once; commands, streams, files, timeout, concurrency, crash",
  ignore: kvmUnavailableReason() !== undefined || findCachedGuest() === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const booted = await Promise.allSettled([MicroVm.boot({ cpus: 2 }), MicroVm.boot({ cpus: 2 })]);
    const failed = booted.find((r) => r.status === "rejected");
    if (failed) {
      for (const r of booted) if (r.status === "fulfilled") await r.value.shutdown();
      throw failed.reason;
    }
    const [a, b] = booted.map((r) => (r as PromiseFulfilledResult<MicroVm>).value);
    try {
      await t.step("both VMs answer side by side, each with its own guest", async () => {
        assert.match(a.agent.kernelRelease, /denovmm/);
        const [ra, rb] = await Promise.all([a.run("uname", { args: ["-r"] }), b.run("nproc")]);
        assert.equal(ra.stdout.trim(), a.agent.kernelRelease);
        assert.equal(rb.stdout.trim(), "2");
        await Promise.all([a.writeFile("/tmp/who", "vm a"), b.writeFile("/tmp/who", "vm b")]);
        const [wa, wb] = await Promise.all([a.readFile("/tmp/who"), b.readFile("/tmp/who")]);
        assert.deepEqual([text(wa), text(wb)], ["vm a", "vm b"]);
      });

      await t.step("VM B: the guest kernel crashes under a running command", async () => {
        const long = b.run("sleep", { args: ["600"] });
        await b.run("true"); // the sleep has started by the time this returns
        const crash = b.run("sh", { args: ["-c", "echo c > /proc/sysrq-trigger"] });
        for (const call of [long, crash]) {
          await assert.rejects(call, (e: Error) => {
            assert.ok(e instanceof AgentClosedError, String(e));
            assert.match(e.message, /did not finish: .*the guest kernel panicked \(Kernel panic/);
            return true;
          });
        }
        const exit = await b.exited;
        assert.equal(exit.kind, "panic");
        await assert.rejects(b.run("true"), AgentClosedError);
        assert.deepEqual(await b.shutdown(), exit); // nothing left to stop
      });

      await t.step(
        "two concurrent commands run at once and their output does not mix",
        async () => {
          // Opening a FIFO blocks until the other end is opened too: neither command gets past
          // its first line unless both run at the same time. No spinning, so a slow host only
          // makes it slower.
          assert.equal((await a.run("mkfifo", { args: ["/tmp/meet"] })).exitCode, 0);
          const lines = (c: string) =>
            `i=0; while [ $i -lt 1000 ]; do echo ${c.repeat(31)}; i=$((i+1)); done`;
          const [x, y] = await Promise.all([
            a.run("sh", { args: ["-c", `echo go > /tmp/meet; ${lines("x")}`], timeoutMs: 300_000 }),
            a.run("sh", { args: ["-c", `read l < /tmp/meet; ${lines("y")}`], timeoutMs: 300_000 }),
          ]);
          assert.equal(x.stdout, `${"x".repeat(31)}\n`.repeat(1000));
          assert.equal(y.stdout, `${"y".repeat(31)}\n`.repeat(1000));
        },
      );

      await t.step("exit codes 0, 1 and 127 are results, with the reason for 127", async () => {
        assert.equal((await a.run("true")).exitCode, 0);
        assert.equal((await a.run("false")).exitCode, 1);
        const missing = await a.run("no-such-command");
        assert.equal(missing.exitCode, 127);
        assert.equal(missing.signal, null);
        assert.match(missing.stderr, /cannot run no-such-command: No such file or directory/);
      });

      await t.step("stdout and stderr are kept apart; onStdout sees the chunks", async () => {
        const seen: string[] = [];
        const r = await a.run("sh", {
          args: ["-c", "echo to-out; echo to-err >&2; echo more-out; exit 4"],
          onStdout: (c) => seen.push(text(c)),
        });
        assert.equal(r.exitCode, 4);
        assert.equal(r.stdout, "to-out\nmore-out\n");
        assert.equal(r.stderr, "to-err\n");
        assert.equal(seen.join(""), r.stdout);
      });

      await t.step("env and cwd", async () => {
        const r = await a.run("sh", {
          args: ["-c", 'echo "$GREETING|$HOME"; pwd'],
          env: { GREETING: "hello world" },
          cwd: "/tmp",
        });
        assert.equal(r.stdout, "hello world|/root\n/tmp\n");
        assert.equal((await a.run("pwd")).stdout, "/root\n");
      });

      const blob = new Uint8Array(1 << 20);
      for (let i = 0; i < blob.length; i += 65536) {
        crypto.getRandomValues(blob.subarray(i, i + 65536));
      }

      await t.step(
        "a file written from the host reads back; its mode is the one asked for",
        async () => {
          await a.writeFile("/tmp/blob", blob, { mode: 0o600 });
          await a.writeFile("/tmp/hello.sh", "echo script says hi\n", { mode: 0o755 });
          assert.equal(sha(await a.readFile("/tmp/blob")), sha(blob));
          assert.equal((await a.run("/tmp/hello.sh")).stdout, "script says hi\n");
          const ls = await a.run("stat", { args: ["-c", "%a %s", "/tmp/blob"] });
          assert.equal(ls.stdout, `600 ${1 << 20}\n`);
          await assert.rejects(
            a.readFile("/no/such/file"),
            /cannot read \/no\/such\/file: No such file/,
          );
        },
      );

      await t.step("1 MiB of binary output arrives intact", async () => {
        const r = await a.run("cat", { args: ["/tmp/blob"] });
        assert.equal(r.exitCode, 0);
        assert.equal(r.stdoutBytes.length, blob.length);
        assert.equal(sha(r.stdoutBytes), sha(blob));
        const guestSum = await a.run("sha256sum", { args: ["/tmp/blob"] });
        assert.equal(guestSum.stdout.split(" ")[0], sha(blob));
      });

      await t.step("stdin round trip (1 MiB through cat), and a streaming spawn", async () => {
        const r = await a.run("cat", { stdin: blob });
        assert.equal(sha(r.stdoutBytes), sha(blob));
        const p = a.spawn("sh", { args: ["-c", 'while read -r l; do echo "got $l"; done'] });
        const w = p.stdin.getWriter();
        await w.write(new TextEncoder().encode("one\ntwo\n"));
        await w.close();
        assert.equal(await new Response(p.stdout).text(), "got one\ngot two\n");
        assert.deepEqual(await p.wait(), { exitCode: 0, signal: null });
        assert.ok((await p.pid) > 1);
      });

      await t.step("kill(SIGTERM) ends a spawned command with that signal", async () => {
        const p = a.spawn("sleep", { args: ["600"] });
        await p.pid;
        await p.kill("SIGTERM");
        assert.deepEqual(await p.wait(), { exitCode: 143, signal: "SIGTERM" });
      });

      await t.step("a timeout kills the command and says so; the VM goes on", async () => {
        const t0 = performance.now();
        await assert.rejects(
          a.run("sh", { args: ["-c", "echo started; sleep 600"], timeoutMs: 3000 }),
          (e: Error) => {
            assert.ok(e instanceof CommandTimeoutError, String(e));
            assert.match(e.message, /did not finish within 3000 ms: it was killed/);
            assert.equal(e.result.stdout, "started\n");
            assert.equal(e.result.signal, "SIGKILL");
            return true;
          },
        );
        assert.ok(performance.now() - t0 < 60_000);
        assert.equal((await a.run("true")).exitCode, 0);
      });

      await t.step("the console stream has the guest's boot log", async () => {
        assert.match(a.consoleTail(400), /Linux version 6\.1/);
        const reader = a.console.getReader();
        const first = await reader.read();
        reader.releaseLock();
        assert.ok(first.value && first.value.length > 0);
      });

      await t.step("VM A: graceful shutdown ends the VM; later calls reject", async () => {
        assert.deepEqual(await a.shutdown(), { kind: "reset" });
        await assert.rejects(a.run("true"), AgentClosedError);
      });
    } finally {
      await Promise.all([a.shutdown({ timeoutMs: 5000 }), b.shutdown({ timeoutMs: 5000 })]);
    }
  },
});
