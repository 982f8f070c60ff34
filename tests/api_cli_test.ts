/**
 * `denovmm api` and `denovmm run --config-file/--api-sock` as processes, without booting a
 * guest: bad config files, option conflicts, the socket's life cycle, signals, and a loop of
 * 10 000 malformed requests against the real server process with its RSS measured.
 */

import assert from "node:assert/strict";
import { assertOneLine, denovmm } from "./support/cli_process.ts";
import { HeapHarness, sendMalformed } from "./support/api_malformed.ts";
import { rssOf, spawnApi } from "./support/api_process.ts";
import { HAS_KVM } from "./support/payload_vm.ts";
import { I8042_RESET, SPIN, tinyKernel } from "./support/tiny_kernel.ts";

const cli = (args: string[], cwd?: string) => denovmm(args, { cwd });

Deno.test("run --config-file: a bad file is one plain line naming the file, place and field", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "denovmm-cfg-" });
  const write = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
  try {
    await Deno.writeFile(`${dir}/vmlinux`, new Uint8Array(16));
    await t.step("a missing file", async () => {
      const r = await cli(["run", "--config-file", `${dir}/none.json`, "--no-api"]);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /^denovmm: Cannot open config file .*none\.json: no such file$/);
    });
    await t.step("JSON syntax: file:line:column", async () => {
      await write("syntax.json", '{\n  "boot-source": {\n    "kernel_image_path" "x"\n  }\n}\n');
      const r = await cli(["run", "--config-file", `${dir}/syntax.json`, "--no-api"]);
      assert.equal(r.code, 2);
      assertOneLine(
        r.stderr,
        /^denovmm: Bad config file .*syntax\.json:3:25: not valid JSON: Expected ':' after property name$/,
      );
    });
    await t.step("a wrong field, by section", async () => {
      await write(
        "field.json",
        JSON.stringify({
          "boot-source": { kernel_image_path: "vmlinux" },
          "machine-config": { vcpu_count: 1, mem_size_mib: 128, vcpus: 2 },
        }),
      );
      const r = await cli(["run", "--config-file", "field.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(
        r.stderr,
        /^denovmm: Bad config file field\.json: machine-config: .*unknown field `vcpus`/,
      );
    });
    await t.step("a bad drive, by index", async () => {
      await write(
        "drive.json",
        JSON.stringify({
          "boot-source": { kernel_image_path: "vmlinux" },
          "drives": [{
            drive_id: "rootfs",
            path_on_host: "vmlinux",
            is_root_device: "yes",
            is_read_only: false,
          }],
        }),
      );
      const r = await cli(["run", "--config-file", "drive.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(
        r.stderr,
        /drives\[0\]: .*invalid type for `is_root_device`: string "yes", expected a boolean/,
      );
    });
    await t.step("a kernel that does not exist", async () => {
      await write("kernel.json", JSON.stringify({ "boot-source": { kernel_image_path: "nope" } }));
      const r = await cli(["run", "--config-file", "kernel.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /boot-source: The kernel file cannot be opened: nope: no such file/);
    });
    await t.step("a file without a kernel", async () => {
      await write("empty.json", "{}");
      const r = await cli(["run", "--config-file", "empty.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /kernel was not configured/);
    });
    await t.step("a kernel that is not a kernel", async () => {
      await write("junk.json", JSON.stringify({ "boot-source": { kernel_image_path: "vmlinux" } }));
      const r = await cli(["run", "--config-file", "junk.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /denovmm: Start microvm error: .*(neither an ELF|\/dev\/kvm)/);
    });
    await t.step("a section denovmm does not have", async () => {
      await write("vsock.json", JSON.stringify({ vsock: { guest_cid: 3, uds_path: "v.sock" } }));
      const r = await cli(["run", "--config-file", "vsock.json", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /The "vsock" section is not supported by denovmm/);
    });
    await t.step("flags the file replaces, and --no-api misuse", async () => {
      let r = await cli(["run", "--config-file", "empty.json", "--mem", "64", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /--config-file describes the whole VM; drop --mem/);
      r = await cli(["run", "--no-api"], dir);
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /--no-api needs --config-file/);
      r = await cli(
        ["run", "--config-file", "empty.json", "--no-api", "--api-sock", "x.sock"],
        dir,
      );
      assert.equal(r.code, 2);
      assertOneLine(r.stderr, /--no-api and --api-sock exclude each other/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("denovmm api: serves until SIGTERM (exit 143), removes its socket; a second one is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denovmm-api-cli-" });
  try {
    const sock = `${dir}/firecracker.socket`;
    await using p = await spawnApi(["api", "--api-sock", sock, "--id", "vm-7"], sock);
    const info = await p.req("GET", "/");
    assert.equal(info.status, 200);
    assert.deepEqual(info.json, {
      id: "vm-7",
      state: "Not started",
      vmm_version: info.json!.vmm_version,
      app_name: "denovmm",
    });
    const second = await cli(["api", "--api-sock", sock]);
    assert.equal(second.code, 2);
    assertOneLine(second.stderr, /The API socket .* is in use by a running process/);
    const missing = await cli(["api"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '--api-sock <path>' not specified/);
    p.child.kill("SIGTERM");
    assert.equal((await p.status).code, 143);
    assert.throws(() => Deno.lstatSync(sock), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Allowed growth of the server's JS heap (after GC) over 10 000 malformed requests. */
const HEAP_BOUND_MIB = 2;
/** Allowed RSS growth: V8 and the allocator grow their pools for a while even with a flat heap. */
const RSS_BOUND_MIB = 64;

const mib = (n: number) => (n / 2 ** 20).toFixed(1);

Deno.test("10 000 malformed requests to a denovmm api process: JSON faults only, it stays up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denovmm-api-stress-" });
  try {
    const sock = `${dir}/api.sock`;
    await using p = await spawnApi(["api", "--api-sock", sock, "--log-level", "warning"], sock);
    const before = rssOf(p.child.pid);
    await sendMalformed(p.req, 10_000);
    const after = rssOf(p.child.pid);
    console.log(`denovmm api RSS: ${mib(before)} MiB before, ${mib(after)} MiB after`);
    const ok = await p.req("GET", "/");
    assert.equal(ok.status, 200);
    assert.equal(ok.json!.state, "Not started");
    p.child.kill("SIGTERM");
    assert.equal((await p.status).code, 143);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the API server's memory stays flat over 10 000 malformed requests (heap after GC, RSS, fds)", async () => {
  await using h = await HeapHarness.start();
  await sendMalformed(h.req, 1500); // warm up the JIT and the pools
  const before = await h.measure();
  await sendMalformed(h.req, 10_000);
  const after = await h.measure();
  console.log(
    `server heap after GC ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB ` +
      `(bound +${HEAP_BOUND_MIB}), RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB ` +
      `(bound +${RSS_BOUND_MIB}), fds ${before.fds} -> ${after.fds}`,
  );
  assert.ok(
    after.heapUsed - before.heapUsed < HEAP_BOUND_MIB * 2 ** 20,
    `heap grew by ${mib(after.heapUsed - before.heapUsed)} MiB`,
  );
  assert.ok(
    after.rss - before.rss < RSS_BOUND_MIB * 2 ** 20,
    `RSS grew by ${mib(after.rss - before.rss)} MiB`,
  );
  assert.ok(after.fds <= before.fds + 2, `fds ${before.fds} -> ${after.fds}`);
});

Deno.test({
  name: "run --api-sock and --config-file boot at once (tiny kernels); runtime requests work",
  ignore: !HAS_KVM,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "denovmm-api-run-" });
    try {
      await Deno.writeFile(`${dir}/spin.elf`, tinyKernel(SPIN));
      await Deno.writeFile(`${dir}/reset.elf`, tinyKernel(I8042_RESET));
      await t.step(
        "run --api-sock: the run flags' VM, with the socket for runtime requests",
        async () => {
          const sock = `${dir}/run.sock`;
          await using p = await spawnApi([
            "run",
            "--api-sock",
            sock,
            "--kernel",
            `${dir}/spin.elf`,
            "--mem",
            "64",
            "--cpus",
            "2",
            "--pvm-quirks",
            "off",
            "--cmdline",
            "console=ttyS0",
          ], sock);
          assert.equal((await p.req("GET", "/")).json!.state, "Running");
          const cfg = (await p.req("GET", "/vm/config")).json!;
          assert.deepEqual(cfg["boot-source"], {
            kernel_image_path: `${dir}/spin.elf`,
            boot_args: "console=ttyS0",
          });
          const mc = cfg["machine-config"] as Record<string, unknown>;
          assert.deepEqual([mc.vcpu_count, mc.mem_size_mib], [2, 64]);
          assert.equal((await p.req("PATCH", "/vm", { state: "Paused" })).status, 204);
          assert.equal((await p.req("GET", "/")).json!.state, "Paused");
          assert.equal((await p.req("PATCH", "/vm", { state: "Resumed" })).status, 204);
          assert.equal(
            (await p.req("PUT", "/actions", { action_type: "SendCtrlAltDel" })).status,
            204,
          );
          const late = await p.req("PUT", "/boot-source", { kernel_image_path: `${dir}/spin.elf` });
          assert.equal(late.status, 400);
          p.child.kill("SIGTERM");
          assert.equal((await p.status).code, 143);
          assert.throws(() => Deno.lstatSync(sock), Deno.errors.NotFound);
        },
      );
      await t.step("run --config-file --no-api: boots the file, exits with the guest", async () => {
        const metrics = `${dir}/metrics.json`;
        await Deno.writeTextFile(
          `${dir}/vm.json`,
          JSON.stringify({
            "boot-source": { kernel_image_path: "reset.elf", boot_args: "console=ttyS0" },
            "machine-config": { vcpu_count: 1, mem_size_mib: 64 },
            "metrics": { metrics_path: metrics },
          }),
        );
        const r = await cli(
          ["run", "--config-file", "vm.json", "--no-api", "--pvm-quirks", "off"],
          dir,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /Guest ended \(reset\)/);
        const lines = (await Deno.readTextFile(metrics)).trim().split("\n").map((l) =>
          JSON.parse(l)
        );
        assert.equal(lines.length, 1, "the line written at exit");
        assert.equal(lines[0].vcpu_0.exit_io_out, 1, "the guest's one OUT to port 0x64");
      });
      await t.step("api --config-file: boots at once; GET / answers Running", async () => {
        await Deno.writeTextFile(
          `${dir}/spin.json`,
          JSON.stringify({
            "boot-source": { kernel_image_path: `${dir}/spin.elf`, boot_args: "console=ttyS0" },
            "machine-config": { vcpu_count: 1, mem_size_mib: 64 },
          }),
        );
        const sock = `${dir}/api.sock`;
        await using p = await spawnApi([
          "api",
          "--api-sock",
          sock,
          "--config-file",
          `${dir}/spin.json`,
          "--pvm-quirks",
          "off",
        ], sock);
        assert.equal((await p.req("GET", "/")).json!.state, "Running");
        p.child.kill("SIGINT");
        assert.equal((await p.status).code, 130);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
