import assert from "node:assert/strict";
import { FakeController, rawExchange, type TestApi, testApi } from "./api_test_support.ts";
import { startApiServer } from "./server.ts";

async function files(api: TestApi): Promise<{ kernel: string; disk: string; disk2: string }> {
  const kernel = `${api.dir}/vmlinux`;
  const disk = `${api.dir}/rootfs.ext4`;
  const disk2 = `${api.dir}/data.img`;
  for (const f of [kernel, disk, disk2]) await Deno.writeFile(f, new Uint8Array(4096));
  return { kernel, disk, disk2 };
}

async function fault(api: TestApi, method: string, path: string, body: unknown, status = 400) {
  const r = await api.req(method, path, body);
  assert.equal(
    r.status,
    status,
    `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`,
  );
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(typeof r.json?.fault_message, "string");
  return r.json!.fault_message as string;
}

function drive(id: string, path: string, extra: Record<string, unknown> = {}) {
  return { drive_id: id, path_on_host: path, is_root_device: false, is_read_only: false, ...extra };
}

Deno.test("GET /, /version and the default machine-config mirror Firecracker's shapes", async () => {
  await using api = await testApi(new FakeController());
  const info = await api.req("GET", "/");
  assert.equal(info.status, 200);
  assert.deepEqual(Object.keys(info.json!).sort(), ["app_name", "id", "state", "vmm_version"]);
  assert.equal(info.json!.state, "Not started");
  assert.equal(info.json!.id, "anonymous-instance");
  assert.equal(info.json!.app_name, "denovmm");
  const v = await api.req("GET", "/version");
  assert.equal(v.status, 200);
  assert.equal(typeof v.json!.firecracker_version, "string");
  const m = await api.req("GET", "/machine-config");
  assert.deepEqual(m.json, {
    vcpu_count: 1,
    mem_size_mib: 128,
    smt: false,
    track_dirty_pages: false,
    huge_pages: "None",
  });
});

Deno.test("unknown paths and wrong methods are 400 JSON faults, as in Firecracker (with Allow)", async () => {
  await using api = await testApi(new FakeController());
  assert.match(
    await fault(api, "GET", "/nope", undefined, 400),
    /Invalid request method and\/or path: GET \/nope/,
  );
  await fault(api, "PUT", "/drives/a/b", drive("a", "x"), 400);
  await fault(api, "GET", "/vm/config/extra", undefined, 400);
  const r = await api.req("PUT", "/vm", { state: "Paused" });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get("allow"), "PATCH");
  await fault(api, "DELETE", "/machine-config", undefined, 400);
  await fault(api, "POST", "/actions", { action_type: "InstanceStart" }, 400);
  await fault(api, "GET", "/drives/rootfs", undefined, 400);
});

Deno.test("bodies: empty PUT/PATCH, GET with a body, bad JSON and bad UTF-8 are 400s", async () => {
  await using api = await testApi(new FakeController());
  assert.equal(await fault(api, "PUT", "/machine-config", undefined), "Empty PUT request.");
  assert.equal(await fault(api, "PATCH", "/machine-config", ""), "Empty PATCH request.");
  const get = await rawExchange(
    api.socketPath,
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
  );
  assert.match(get, /^HTTP\/1\.1 400/);
  assert.match(get, /GET request cannot have a body/);
  assert.match(
    await fault(api, "PUT", "/machine-config", "{vcpu_count: 1"),
    /deserializing the json body/,
  );
  assert.match(await fault(api, "PUT", "/machine-config", "[1,2]"), /expected an object/);
  assert.match(await fault(api, "PUT", "/machine-config", "null"), /expected an object/);
  const bad = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
  const raw = await rawExchange(
    api.socketPath,
    new Uint8Array([
      ...new TextEncoder().encode(
        "PUT /logger HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n",
      ),
      ...bad,
    ]),
  );
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.match(raw, /not valid UTF-8/);
});

Deno.test("PUT /boot-source: good, wrong types, unknown and missing fields, missing files", async () => {
  await using api = await testApi(new FakeController());
  const f = await files(api);
  assert.equal(
    (await api.req("PUT", "/boot-source", {
      kernel_image_path: f.kernel,
      boot_args: "console=ttyS0 reboot=k panic=1 pci=off",
    })).status,
    204,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", { kernel_image_path: 5 }),
    /invalid type for `kernel_image_path`: integer 5, expected a string/,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", { kernel_image_path: f.kernel, kernel: "x" }),
    /unknown field `kernel`/,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", { boot_args: "quiet" }),
    /missing field `kernel_image_path`/,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", { kernel_image_path: `${api.dir}/none` }),
    /kernel file cannot be opened: .*no such file/,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", {
      kernel_image_path: f.kernel,
      initrd_path: `${api.dir}/none`,
    }),
    /initrd file cannot be opened/,
  );
  assert.match(
    await fault(api, "PUT", "/boot-source", { kernel_image_path: f.kernel, boot_args: 'a="b' }),
    /Invalid boot_args: .*unbalanced/,
  );
  const cfg = await api.req("GET", "/vm/config");
  assert.deepEqual(cfg.json!["boot-source"], {
    kernel_image_path: f.kernel,
    boot_args: "console=ttyS0 reboot=k panic=1 pci=off",
  });
});

Deno.test("machine-config: PUT validates and resets optionals, PATCH merges, templates", async () => {
  await using api = await testApi(new FakeController());
  assert.equal(
    (await api.req("PUT", "/machine-config", {
      vcpu_count: 2,
      mem_size_mib: 256,
      smt: true,
      cpu_template: "minimal",
    })).status,
    204,
  );
  assert.equal((await api.req("PATCH", "/machine-config", { mem_size_mib: 512 })).status, 204);
  let m = (await api.req("GET", "/machine-config")).json!;
  assert.deepEqual(m, {
    vcpu_count: 2,
    mem_size_mib: 512,
    smt: true,
    track_dirty_pages: false,
    cpu_template: "minimal",
    huge_pages: "None",
  });
  // A PUT without the optional fields sets them back to their defaults.
  assert.equal(
    (await api.req("PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128 })).status,
    204,
  );
  m = (await api.req("GET", "/machine-config")).json!;
  assert.equal(m.smt, false);
  assert.equal(m.cpu_template, undefined);
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 0, mem_size_mib: 128 }),
    /number of vCPUs must be greater than 0/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 33, mem_size_mib: 128 }),
    /number of vCPUs/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 3, mem_size_mib: 128, smt: true }),
    /even number if SMT/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: "2", mem_size_mib: 128 }),
    /invalid type for `vcpu_count`/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 1.5, mem_size_mib: 128 }),
    /expected an integer/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { mem_size_mib: 128 }),
    /missing field `vcpu_count`/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 0 }),
    /memory size/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", {
      vcpu_count: 1,
      mem_size_mib: 128,
      cpu_template: "T2",
    }),
    /CPU template T2 is not supported by denovmm/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", {
      vcpu_count: 1,
      mem_size_mib: 128,
      cpu_template: "Z9",
    }),
    /unknown variant `Z9`/,
  );
  assert.match(
    await fault(api, "PUT", "/machine-config", {
      vcpu_count: 1,
      mem_size_mib: 128,
      huge_pages: "2M",
    }),
    /huge_pages 2M is not supported/,
  );
  assert.match(await fault(api, "PATCH", "/machine-config", { vcpus: 2 }), /unknown field `vcpus`/);
  assert.match(
    await fault(api, "PATCH", "/machine-config", { smt: true, vcpu_count: 5 }),
    /even number/,
  );
  // A refused request changed nothing.
  assert.deepEqual((await api.req("GET", "/machine-config")).json, {
    vcpu_count: 1,
    mem_size_mib: 128,
    smt: false,
    track_dirty_pages: false,
    huge_pages: "None",
  });
  const none = await api.req("PUT", "/machine-config", {
    vcpu_count: 1,
    mem_size_mib: 64,
    cpu_template: "None",
    track_dirty_pages: null,
  });
  assert.equal(none.status, 204);
});

Deno.test("drives: PUT, ids, one root, rate limiters, PATCH of the path", async () => {
  await using api = await testApi(new FakeController());
  const f = await files(api);
  assert.equal(
    (await api.req("PUT", "/drives/rootfs", drive("rootfs", f.disk, { is_root_device: true })))
      .status,
    204,
  );
  assert.equal(
    (await api.req(
      "PUT",
      "/drives/data",
      drive("data", f.disk2, {
        is_read_only: true,
        partuuid: null,
        rate_limiter: { bandwidth: { size: 0, refill_time: 100 } },
      }),
    )).status,
    204,
  );
  assert.equal(
    await fault(api, "PUT", "/drives/rootfs", drive("other", f.disk)),
    "The id from the path does not match the id from the body!",
  );
  assert.equal(await fault(api, "PUT", "/drives/", drive("", f.disk)), "The ID cannot be empty.");
  assert.match(
    await fault(api, "PUT", "/drives/a%20b", drive("a b", f.disk)),
    /alphanumeric characters and underscores/,
  );
  assert.equal(
    await fault(api, "PUT", "/drives/second", drive("second", f.disk2, { is_root_device: true })),
    "A root block device already exists!",
  );
  assert.match(
    await fault(api, "PUT", "/drives/x", {
      drive_id: "x",
      path_on_host: f.disk,
      is_root_device: false,
    }),
    /missing field `is_read_only`/,
  );
  assert.match(
    await fault(api, "PUT", "/drives/x", drive("x", f.disk, { is_read_only: "no" })),
    /invalid type for `is_read_only`/,
  );
  assert.match(
    await fault(api, "PUT", "/drives/x", drive("x", f.disk, { cache_type: "None" })),
    /unknown variant `None` for `cache_type`/,
  );
  assert.match(
    await fault(
      api,
      "PUT",
      "/drives/x",
      drive("x", f.disk, { rate_limiter: { ops: { size: 100, refill_time: 1000 } } }),
    ),
    /Rate limiters are not implemented/,
  );
  assert.match(
    await fault(
      api,
      "PUT",
      "/drives/x",
      drive("x", f.disk, { rate_limiter: { ops: { size: 100 } } }),
    ),
    /missing field `rate_limiter.ops.refill_time`/,
  );
  assert.match(
    await fault(
      api,
      "PUT",
      "/drives/x",
      drive("x", f.disk, { rate_limiter: { ops: { size: 1, refill_time: 1, extra: 1 } } }),
    ),
    /unknown field `extra` in `rate_limiter.ops`/,
  );
  assert.match(
    await fault(api, "PUT", "/drives/x", drive("x", f.disk, { socket: "/tmp/vhost.sock" })),
    /vhost-user-block/,
  );
  assert.match(
    await fault(api, "PUT", "/drives/x", drive("x", `${api.dir}/missing.img`)),
    /drive x file cannot be opened/,
  );
  // PATCH: only the path (and rate limiter); the drive must exist.
  assert.equal(
    (await api.req("PATCH", "/drives/data", { drive_id: "data", path_on_host: f.disk })).status,
    204,
  );
  assert.match(
    await fault(api, "PATCH", "/drives/nope", { drive_id: "nope", path_on_host: f.disk }),
    /no drive with id nope/,
  );
  assert.match(
    await fault(api, "PATCH", "/drives/data", { drive_id: "data", is_read_only: false }),
    /unknown field `is_read_only`/,
  );
  assert.match(
    await fault(api, "PATCH", "/drives/data", { path_on_host: f.disk }),
    /missing field `drive_id`/,
  );
  assert.match(
    await fault(api, "PATCH", "/drives/data", { drive_id: "rootfs", path_on_host: f.disk }),
    /does not match/,
  );
  const cfg = (await api.req("GET", "/vm/config")).json!;
  assert.deepEqual(cfg.drives, [
    {
      drive_id: "rootfs",
      path_on_host: f.disk,
      is_root_device: true,
      is_read_only: false,
      cache_type: "Unsafe",
      io_engine: "Sync",
    },
    {
      drive_id: "data",
      path_on_host: f.disk,
      is_root_device: false,
      is_read_only: true,
      cache_type: "Unsafe",
      io_engine: "Sync",
      rate_limiter: { bandwidth: { size: 0, refill_time: 100 } },
    },
  ]);
});

Deno.test("network interfaces are stored and checked; an unsupported mtu refuses InstanceStart", async () => {
  const fake = new FakeController();
  await using api = await testApi(fake);
  const f = await files(api);
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  assert.equal(
    (await api.req("PUT", "/network-interfaces/eth0", {
      iface_id: "eth0",
      host_dev_name: "tap0",
      guest_mac: "06:00:AC:10:00:02",
    })).status,
    204,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "tap0",
    }),
    /tap0 is already used by interface eth0/,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "tap1",
      guest_mac: "06:00:ac:10:00:02",
    }),
    /MAC address .* already used/,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "tap1",
      guest_mac: "zz",
    }),
    /invalid value for `guest_mac`/,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "this-name-is-far-too-long",
    }),
    /host_dev_name must be 1 to 15/,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", { iface_id: "eth1" }),
    /missing field `host_dev_name`/,
  );
  assert.match(
    await fault(api, "PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "tap1",
      mtu: 10,
    }),
    /`mtu`: 10, expected an integer from 68/,
  );
  assert.equal(
    (await api.req("PATCH", "/network-interfaces/eth0", { iface_id: "eth0", rx_rate_limiter: {} }))
      .status,
    204,
  );
  assert.match(
    await fault(api, "PATCH", "/network-interfaces/eth9", { iface_id: "eth9" }),
    /no interface with id eth9/,
  );
  assert.equal(
    (await api.req("PUT", "/network-interfaces/eth1", {
      iface_id: "eth1",
      host_dev_name: "tap1",
      mtu: 9000,
    })).status,
    204,
  );
  assert.match(
    await fault(api, "PUT", "/actions", { action_type: "InstanceStart" }),
    /network interface eth1: mtu 9000 is not supported/,
  );
  assert.equal(fake.started, undefined);
  assert.equal((await api.req("GET", "/")).json!.state, "Not started");
  assert.equal(
    (await api.req("PUT", "/network-interfaces/eth1", { iface_id: "eth1", host_dev_name: "tap1" }))
      .status,
    204,
  );
  assert.equal((await api.req("PUT", "/actions", { action_type: "InstanceStart" })).status, 204);
  assert.deepEqual(
    fake.started!.networkInterfaces.map((n) => [n.iface_id, n.host_dev_name, n.guest_mac]),
    [["eth0", "tap0", "06:00:AC:10:00:02"], ["eth1", "tap1", undefined]],
  );
});

Deno.test("logger: PUT /logger validates, opens the file, routes denovmm's logs into it", async () => {
  const fake = new FakeController();
  await using api = await testApi(fake);
  const logPath = `${api.dir}/fc.log`;
  assert.match(
    await fault(api, "PUT", "/logger", { level: "Loud" }),
    /unknown variant `Loud` for `level`/,
  );
  assert.match(
    await fault(api, "PUT", "/logger", { show_level: 1 }),
    /invalid type for `show_level`/,
  );
  assert.match(
    await fault(api, "PUT", "/logger", { log_path: `${api.dir}/no/such/dir/log` }),
    /Cannot open the log file .*no such directory/,
  );
  assert.equal(
    (await api.req("GET", "/vm/config")).json!.logger,
    null,
    "a refused PUT stores nothing",
  );
  assert.equal(
    (await api.req("PUT", "/logger", {
      log_path: logPath,
      level: "debug",
      show_level: true,
      show_log_origin: true,
    })).status,
    204,
  );
  const cfg = (await api.req("GET", "/vm/config")).json!;
  assert.deepEqual(cfg.logger, {
    level: "Debug",
    log_path: logPath,
    show_level: true,
    show_log_origin: true,
  });
  // The API logs each request at debug level: that line is now in the file.
  await api.req("GET", "/machine-config");
  const text = await Deno.readTextFile(logPath);
  assert.match(
    text,
    /^\d{4}-\d\d-\d\dT\S+Z \[anonymous-instance:main:DEBUG:denovmm\.api\] GET \/machine-config -> 200$/m,
  );
});

Deno.test("metrics: PUT /metrics once, FlushMetrics appends Firecracker-style JSON lines", async () => {
  const fake = new FakeController();
  await using api = await testApi(fake);
  const f = await files(api);
  const path = `${api.dir}/metrics.json`;
  // FlushMetrics without a metrics file is a no-op, as in Firecracker.
  assert.equal((await api.req("PUT", "/actions", { action_type: "FlushMetrics" })).status, 204);
  assert.match(await fault(api, "PUT", "/metrics", {}), /missing field `metrics_path`/);
  assert.match(
    await fault(api, "PUT", "/metrics", { metrics_path: path, properties: { a: 1 } }),
    /invalid type for `properties.a`: integer 1, expected a string/,
  );
  assert.match(
    await fault(api, "PUT", "/metrics", { metrics_path: `${api.dir}/none/m` }),
    /Cannot open the metrics file/,
  );
  assert.equal(
    (await api.req("PUT", "/metrics", { metrics_path: path, properties: { customer: "c1" } }))
      .status,
    204,
  );
  assert.match(
    await fault(api, "PUT", "/metrics", { metrics_path: `${api.dir}/m2` }),
    /Reinitialization of metrics/,
  );
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  await api.req("PUT", "/actions", { action_type: "InstanceStart" });
  fake.vmCounters = {
    vcpus: [{ pioIn: 5, pioOut: 7, mmioRead: 1, mmioWrite: 2, unhandled: 0 }],
    devices: [{ kind: "block", id: "rootfs", counters: { reads: 3, readBytes: 1536 } }],
  };
  assert.equal((await api.req("PUT", "/actions", { action_type: "FlushMetrics" })).status, 204);
  fake.vmCounters = {
    vcpus: [{ pioIn: 6, pioOut: 7, mmioRead: 1, mmioWrite: 2, unhandled: 0 }],
    devices: [{ kind: "block", id: "rootfs", counters: { reads: 5, readBytes: 2048 } }],
  };
  assert.equal((await api.req("PUT", "/actions", { action_type: "FlushMetrics" })).status, 204);
  const lines = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  const [a, b] = lines;
  assert.equal(typeof a.utc_timestamp_ms, "number");
  assert.deepEqual(a.properties, { customer: "c1" });
  assert.equal(a.vcpu.exit_io_in, 5);
  assert.equal(a.vcpu_0.exit_io_out, 7);
  assert.equal(a.block.read_count, 3);
  assert.equal(a.block_rootfs.read_bytes, 1536);
  assert.equal(a.put_api_requests.boot_source_count, 1);
  assert.equal(a.put_api_requests.metrics_fails, 4);
  // The second line holds what changed since the first, as Firecracker's counters do.
  assert.equal(b.vcpu.exit_io_in, 1);
  assert.equal(b.vcpu.exit_io_out, 0);
  assert.equal(b.block_rootfs.read_count, 2);
  assert.equal(b.block_rootfs.read_bytes, 512);
  assert.equal(b.put_api_requests.actions_count, 1);
  assert.equal(b.put_api_requests.boot_source_count, 0);
  assert.deepEqual((await api.req("GET", "/vm/config")).json!.metrics, {
    metrics_path: path,
    properties: { customer: "c1" },
  });
});

Deno.test("metrics: InstanceStart starts the periodic flush; closing writes a last line", async () => {
  const fake = new FakeController();
  const path = await Deno.makeTempFile();
  {
    await using api = await testApi(fake, undefined, { metricsPeriodMs: 50 });
    const f = await files(api);
    await api.req("PUT", "/metrics", { metrics_path: path });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await Deno.readTextFile(path), "", "no periodic line before InstanceStart");
    await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
    await api.req("PUT", "/actions", { action_type: "InstanceStart" });
    await new Promise((r) => setTimeout(r, 400));
    const n = (await Deno.readTextFile(path)).trim().split("\n").length;
    assert.ok(n >= 2, `${n} periodic lines in 400 ms at a 50 ms period`);
  }
  // Closing the server wrote a last line; nothing comes after it.
  const before = (await Deno.readTextFile(path)).trim().split("\n");
  assert.ok(before.every((l) => typeof JSON.parse(l).utc_timestamp_ms === "number"));
  await new Promise((r) => setTimeout(r, 200));
  const after = (await Deno.readTextFile(path)).trim().split("\n");
  assert.equal(after.length, before.length, "no line after close");
  await Deno.remove(path);
});

Deno.test("InstanceStart boots the configuration, then pre-boot requests are refused", async () => {
  const fake = new FakeController();
  await using api = await testApi(fake);
  const f = await files(api);
  assert.match(
    await fault(api, "PUT", "/actions", { action_type: "InstanceStart" }),
    /kernel was not configured/,
  );
  assert.match(
    await fault(api, "PUT", "/actions", { action_type: "Reboot" }),
    /unknown variant `Reboot`/,
  );
  assert.match(await fault(api, "PUT", "/actions", {}), /missing field `action_type`/);
  assert.match(
    await fault(api, "PUT", "/actions", { action_type: "SendCtrlAltDel" }),
    /not supported before starting the microVM/,
  );
  assert.match(
    await fault(api, "PATCH", "/vm", { state: "Paused" }),
    /not supported before starting the microVM/,
  );
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  await api.req("PUT", "/drives/rootfs", drive("rootfs", f.disk, { is_root_device: true }));
  await api.req("PUT", "/machine-config", { vcpu_count: 2, mem_size_mib: 256 });
  assert.equal((await api.req("PUT", "/actions", { action_type: "InstanceStart" })).status, 204);
  assert.equal(fake.started?.machineConfig.vcpu_count, 2);
  assert.equal(fake.started?.drives[0].drive_id, "rootfs");
  assert.equal((await api.req("GET", "/")).json!.state, "Running");
  const after = "The requested operation is not supported after starting the microVM.";
  assert.equal(await fault(api, "PUT", "/boot-source", { kernel_image_path: f.kernel }), after);
  assert.equal(
    await fault(api, "PUT", "/machine-config", { vcpu_count: 1, mem_size_mib: 128 }),
    after,
  );
  assert.equal(await fault(api, "PATCH", "/machine-config", { vcpu_count: 1 }), after);
  assert.equal(await fault(api, "PUT", "/drives/data", drive("data", f.disk2)), after);
  assert.equal(
    await fault(api, "PUT", "/network-interfaces/eth0", {
      iface_id: "eth0",
      host_dev_name: "tap0",
    }),
    after,
  );
  assert.equal(await fault(api, "PUT", "/logger", { level: "Info" }), after);
  assert.equal(await fault(api, "PUT", "/metrics", { metrics_path: "m" }), after);
  assert.equal(await fault(api, "PUT", "/actions", { action_type: "InstanceStart" }), after);
  // Runtime requests.
  assert.equal((await api.req("PUT", "/actions", { action_type: "SendCtrlAltDel" })).status, 204);
  assert.equal(fake.ctrlAltDels, 1);
  assert.match(
    await fault(api, "PATCH", "/vm", { state: "Paused" }),
    /not supported by denovmm yet/,
  );
  assert.match(await fault(api, "PATCH", "/vm", { state: "Stopped" }), /unknown variant `Stopped`/);
  assert.match(
    await fault(api, "PATCH", "/drives/rootfs", { drive_id: "rootfs", path_on_host: f.disk2 }),
    /backing file after boot is not supported/,
  );
  assert.match(
    await fault(api, "PATCH", "/drives/none", { drive_id: "none", path_on_host: f.disk2 }),
    /no drive with id none/,
  );
  assert.equal((await api.req("PATCH", "/drives/rootfs", { drive_id: "rootfs" })).status, 204);
  assert.match(
    await fault(api, "PATCH", "/network-interfaces/eth0", { iface_id: "eth0" }),
    /no interface with id eth0/,
  );
  assert.equal((await api.req("GET", "/vm/config")).status, 200);
});

Deno.test("PATCH /vm pauses and resumes a controller that can", async () => {
  const fake = new FakeController({ pausable: true });
  await using api = await testApi(fake);
  const f = await files(api);
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  await api.req("PUT", "/actions", { action_type: "InstanceStart" });
  assert.equal((await api.req("PATCH", "/vm", { state: "Paused" })).status, 204);
  assert.equal((await api.req("GET", "/")).json!.state, "Paused");
  assert.equal((await api.req("PATCH", "/vm", { state: "Resumed" })).status, 204);
  assert.equal((await api.req("GET", "/")).json!.state, "Running");
});

Deno.test("PATCH /drives after boot swaps the running drive's file; GET /vm/config shows it", async () => {
  const fake = new FakeController();
  const swaps: string[] = [];
  fake.updateDrive = (id, path) => {
    if (path.endsWith("missing.img")) {
      return Promise.reject(new Error(`Cannot open disk image ${path}: no such file`));
    }
    swaps.push(`${id}=${path}`);
    return Promise.resolve();
  };
  await using api = await testApi(fake);
  const f = await files(api);
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  await api.req("PUT", "/drives/rootfs", drive("rootfs", f.disk, { is_root_device: true }));
  await api.req("PUT", "/actions", { action_type: "InstanceStart" });
  const patch = { drive_id: "rootfs", path_on_host: f.disk2 };
  assert.equal((await api.req("PATCH", "/drives/rootfs", patch)).status, 204);
  assert.deepEqual(swaps, [`rootfs=${f.disk2}`]);
  const cfg = (await api.req("GET", "/vm/config")).json!;
  assert.equal((cfg.drives as { path_on_host: string }[])[0].path_on_host, f.disk2);
  assert.equal(
    await fault(api, "PATCH", "/drives/rootfs", {
      drive_id: "rootfs",
      path_on_host: "missing.img",
    }),
    "Cannot open disk image missing.img: no such file",
  );
  assert.equal(
    ((await api.req("GET", "/vm/config")).json!.drives as { path_on_host: string }[])[0]
      .path_on_host,
    f.disk2,
    "a failed swap leaves the configuration as it was",
  );
});

Deno.test("controller failures: plain errors are 400 Start microvm errors, bugs are 500s", async () => {
  const fake = new FakeController();
  await using api = await testApi(fake);
  const f = await files(api);
  await api.req("PUT", "/boot-source", { kernel_image_path: f.kernel });
  fake.startError = new Error("Cannot open kernel x: no such file");
  assert.equal(
    await fault(api, "PUT", "/actions", { action_type: "InstanceStart" }),
    "Start microvm error: Cannot open kernel x: no such file",
  );
  fake.startError = new TypeError("undefined is not a function");
  assert.match(
    await fault(api, "PUT", "/actions", { action_type: "InstanceStart" }, 500),
    /Internal error/,
  );
  assert.equal((await api.req("GET", "/")).json!.state, "Not started");
});

Deno.test("oversized bodies get a 413 JSON fault without being buffered", async () => {
  await using api = await testApi(new FakeController(), 1024);
  const big = JSON.stringify({ kernel_image_path: "x".repeat(2000) });
  assert.match(
    await fault(api, "PUT", "/boot-source", big, 413),
    /larger than the limit of 1024 bytes/,
  );
  // Declared length far over the limit: answered before the body is sent.
  const declared = await rawExchange(
    api.socketPath,
    "PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n{",
  );
  assert.match(declared, /^HTTP\/1\.1 413/);
  assert.match(declared, /fault_message/);
  // Chunked, no length: cut off once past the limit.
  const chunk = "a".repeat(600);
  const chunked = await rawExchange(
    api.socketPath,
    "PUT /boot-source HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      `${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(3) + "0\r\n\r\n",
  );
  assert.match(chunked, /^HTTP\/1\.1 413/);
  assert.equal((await api.req("GET", "/")).status, 200);
});

Deno.test("a client that hangs up mid-request does not disturb the server", async () => {
  await using api = await testApi(new FakeController());
  await rawExchange(
    api.socketPath,
    'PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"vcpu_count": 2',
    { hangUp: true },
  );
  await rawExchange(api.socketPath, "PUT /machine-con", { hangUp: true });
  await rawExchange(api.socketPath, "\x00\x01garbage\r\n\r\n");
  const r = await api.req("GET", "/machine-config");
  assert.equal(r.status, 200);
  assert.equal(r.json!.vcpu_count, 1);
});

Deno.test("startApiServer refuses a path in use, a stale socket and a non-socket, saying which", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const controller = new FakeController();
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(
      startApiServer({ socketPath: `${dir}/file`, controller }),
      /exists and is not a socket/,
    );
    const live = Deno.listen({ transport: "unix", path: `${dir}/live.sock` });
    await assert.rejects(
      startApiServer({ socketPath: `${dir}/live.sock`, controller }),
      /is in use by a running process/,
    );
    live.close();
    // A process killed while listening leaves its socket file behind: a stale socket.
    const stale = `${dir}/stale.sock`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${
          JSON.stringify(stale)
        } }); console.log("up"); setTimeout(() => {}, 60000);`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    assert.ok(Deno.lstatSync(stale).isSocket);
    await assert.rejects(startApiServer({ socketPath: stale, controller }), /is stale .*rm -f/);
    await assert.rejects(
      startApiServer({ socketPath: `${dir}/no/dir/api.sock`, controller }),
      /Cannot create the API socket .*no\/dir\/api\.sock/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
