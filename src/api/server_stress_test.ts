import assert from "node:assert/strict";
import { FakeController, testApi } from "./api_test_support.ts";

/** Allowed RSS growth over 10 000 malformed requests; a 3 KiB-per-request leak would pass it. */
const RSS_BOUND_MIB = 32;

const MALFORMED: [string, string, string | undefined][] = [
  ["PUT", "/machine-config", "{not json"],
  ["PUT", "/machine-config", '{"vcpu_count": "one", "mem_size_mib": 128}'],
  ["PUT", "/machine-config", '{"vcpu_count": 1, "mem_size_mib": 128, "x": 1}'],
  [
    "PUT",
    "/drives/a",
    '{"drive_id": "b", "path_on_host": "p", "is_root_device": true, "is_read_only": false}',
  ],
  ["PATCH", "/drives/none", '{"drive_id": "none", "path_on_host": "p"}'],
  ["PUT", "/boot-source", "[]"],
  ["GET", "/nope", undefined],
  ["DELETE", "/vm", undefined],
  ["PUT", "/actions", '{"action_type": "Explode"}'],
  ["PUT", "/network-interfaces/%00", "{}"],
  ["PUT", "/boot-source", JSON.stringify({ kernel_image_path: "x".repeat(60000) })],
];

Deno.test("10 000 malformed requests: every answer is a JSON fault, the server stays up, RSS stays flat", async () => {
  await using api = await testApi(new FakeController());
  const send = async (i: number) => {
    const [method, path, body] = MALFORMED[i % MALFORMED.length];
    const r = await api.req(method, path, body);
    assert.ok(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status}`);
    assert.equal(typeof r.json?.fault_message, "string");
  };
  for (let i = 0; i < 1000; i++) await send(i); // warm up the JIT and the pools
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < 10_000; i++) await send(i);
  const after = Deno.memoryUsage().rss;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log(
    `RSS before ${mib(before)} MiB, after ${mib(after)} MiB (bound +${RSS_BOUND_MIB} MiB)`,
  );
  assert.ok(after - before < RSS_BOUND_MIB * 2 ** 20, `RSS grew by ${mib(after - before)} MiB`);
  const ok = await api.req("GET", "/");
  assert.equal(ok.status, 200);
  assert.equal(ok.json!.state, "Not started");
});
