import assert from "node:assert/strict";
import { ApiRequestCounters, MetricsRecorder, type VmCounters } from "./metrics.ts";

const vcpu = (pioIn: number, pioOut = 0) => ({
  pioIn,
  pioOut,
  mmioRead: 0,
  mmioWrite: 0,
  unhandled: 0,
});

Deno.test("MetricsRecorder: Firecracker names, sums per kind, one section per device and vCPU", () => {
  const rec = new MetricsRecorder();
  const vm: VmCounters = {
    vcpus: [vcpu(2, 10), vcpu(3, 1)],
    devices: [
      { kind: "block", id: "rootfs", counters: { reads: 4, readBytes: 4096, errors: 1 } },
      { kind: "block", id: "data", counters: { reads: 1, readBytes: 512, errors: 0 } },
      { kind: "net", id: "eth0", counters: { rxBytes: 60, txFrames: 2, dropped: 1 } },
    ],
  };
  const l = rec.record({ vm }, 1234) as Record<string, Record<string, number>>;
  assert.equal(l.utc_timestamp_ms as unknown, 1234);
  assert.equal(l.vcpu.exit_io_in, 5);
  assert.equal(l.vcpu.exit_io_out, 11);
  assert.deepEqual(l.vcpu_1, {
    exit_io_in: 3,
    exit_io_out: 1,
    exit_mmio_read: 0,
    exit_mmio_write: 0,
    exit_unhandled: 0,
  });
  assert.equal(l.block.read_count, 5);
  assert.equal(l.block.read_bytes, 4608);
  assert.equal(l.block.errors, 1);
  assert.equal(l.block.write_bytes, 0, "the usual block counters are always there");
  assert.deepEqual(l.block_rootfs, { read_count: 4, read_bytes: 4096, errors: 1 });
  assert.equal(l.net_eth0.rx_bytes_count, 60);
  assert.equal(l.net_eth0.tx_packets_count, 2);
  assert.equal(l.net_eth0.dropped, 1, "other counters keep their name, in snake_case");
  assert.equal(l.logger.missed_metrics_count, 0);
});

Deno.test("MetricsRecorder: each line holds the change since the previous one", () => {
  const rec = new MetricsRecorder({ properties: { customer_id: "1234" } });
  const at = (n: number): VmCounters => ({
    vcpus: [vcpu(n)],
    devices: [{ kind: "block", id: "rootfs", counters: { writes: n * 2 } }],
  });
  const a = rec.record({ vm: at(10) }) as Record<string, Record<string, number>>;
  const b = rec.record({ vm: at(15) }) as Record<string, Record<string, number>>;
  const c = rec.record({ vm: at(15) }) as Record<string, Record<string, number>>;
  assert.deepEqual([a.vcpu.exit_io_in, b.vcpu.exit_io_in, c.vcpu.exit_io_in], [10, 5, 0]);
  assert.deepEqual(
    [a.block_rootfs.write_count, b.block_rootfs.write_count, c.block_rootfs.write_count],
    [20, 10, 0],
  );
  assert.deepEqual(a.properties as unknown, { customer_id: "1234" });
  // Before boot there is no VM: the sections exist with zeros.
  const none = new MetricsRecorder().record({}) as Record<string, Record<string, number>>;
  assert.equal(none.vcpu.exit_io_in, 0);
  assert.equal(none.block.read_bytes, 0);
  assert.equal(none.net.rx_bytes_count, 0);
});

Deno.test("ApiRequestCounters: per method and resource, failures counted in both", () => {
  const api = new ApiRequestCounters();
  api.count("PUT", "drive", false);
  api.count("PUT", "drive", true);
  api.count("GET", "instance_info", false);
  api.count("DELETE", undefined, true);
  const rec = new MetricsRecorder();
  const l = rec.record({ api }) as Record<string, Record<string, number>>;
  assert.deepEqual(l.put_api_requests, { drive_count: 2, drive_fails: 1 });
  assert.deepEqual(l.get_api_requests, { instance_info_count: 1 });
  assert.deepEqual(l.patch_api_requests, {});
  assert.deepEqual(l.api_server, { request_count: 4, fault_count: 2 });
  api.count("PUT", "drive", false);
  const next = rec.record({ api }) as Record<string, Record<string, number>>;
  assert.deepEqual(next.put_api_requests, { drive_count: 1, drive_fails: 0 });
});
