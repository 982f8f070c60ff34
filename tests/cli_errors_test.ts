import assert from "node:assert/strict";
import { assertOneLine, denovmm } from "./support/cli_process.ts";

const cli = (...args: string[]) => denovmm(args);

Deno.test("bad input exits 2 with one plain line", async (t) => {
  await t.step("missing kernel file", async () => {
    const r = await cli("run", "--kernel", "/nonexistent/vmlinux");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /^denovmm: Cannot open kernel \/nonexistent\/vmlinux: no such file$/);
  });
  await t.step("a file that is not a kernel, an empty initrd", async () => {
    const r = await cli("run", "--kernel", "/etc/hostname", "--initrd", "/etc/hostname");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /denovmm: The kernel image is neither an ELF vmlinux nor a bzImage/);
  });
  await t.step("exec: no command, a bad --env, a missing kernel", async () => {
    const none = await cli("exec");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing required argument 'cmd'/);
    const env = await cli("exec", "--env", "NOEQUALS", "--", "true");
    assert.equal(env.code, 2);
    assertOneLine(env.stderr, /^denovmm: --env NOEQUALS: expected KEY=VALUE$/);
    const kernel = await cli("exec", "--kernel", "/nonexistent/vmlinux", "--", "true");
    assert.equal(kernel.code, 2);
    assertOneLine(
      kernel.stderr,
      /^denovmm: Cannot open kernel \/nonexistent\/vmlinux: no such file$/,
    );
  });
  await t.step("memory too small", async () => {
    const r = await cli("run", "--mem", "4", "--kernel", "/nonexistent/vmlinux");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /--mem 4 is too small/);
  });
  await t.step("more memory than the host has", async () => {
    const r = await cli(
      "run",
      "--mem",
      String(16 * 1024 * 1024),
      "--kernel",
      "/nonexistent/vmlinux",
    );
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /more than this host has/);
  });
  await t.step("cpus below 1", async () => {
    const r = await cli("run", "--cpus", "0");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /--cpus <n>.*at least 1/);
  });
  await t.step("unknown option and unknown template", async () => {
    assert.equal((await cli("run", "--bogus")).code, 2);
    const r = await cli("run", "--cpu-template", "fancy");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Allowed choices are host, minimal/);
  });
  await t.step("a guest command longer than Linux's 32 init arguments", async () => {
    const r = await cli(
      "run",
      "--kernel",
      "/nonexistent/vmlinux",
      "--",
      ..."echo x ".repeat(20).split(" "),
    );
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /has 40 words; Linux passes at most 32 arguments to init/);
  });
  await t.step("--help works everywhere and exits 0", async () => {
    const top = await cli("--help");
    assert.equal(top.code, 0);
    assert.match(top.stdout, /run \[options\]/);
    const run = await cli("run", "--help");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /--cpu-template <name>/);
  });
});
