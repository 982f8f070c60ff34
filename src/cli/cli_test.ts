import assert from "node:assert/strict";
import { checkMemory, hostMemMiB, readUserFile } from "./host_checks.ts";
import { intIn, oneOf } from "./parse.ts";
import { EscapeFilter } from "./terminal.ts";

Deno.test("Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, other bytes pass", () => {
  const f = new EscapeFilter();
  assert.deepEqual(f.filter(new Uint8Array([0x61, 0x01, 0x01, 0x62])), {
    data: new Uint8Array([0x61, 0x01, 0x62]),
    quit: false,
  });
  const split = new EscapeFilter();
  assert.deepEqual(split.filter(new Uint8Array([0x03, 0x01])), {
    data: new Uint8Array([0x03]),
    quit: false,
  });
  assert.equal(split.filter(new Uint8Array([0x78])).quit, true);
});

Deno.test("option parsers give plain reasons", () => {
  assert.equal(intIn(1, 64)("8"), 8);
  assert.throws(() => intIn(1, 64)("0"), /at least 1/);
  assert.throws(() => intIn(1, 64)("2x"), /not a whole number/);
  assert.throws(() => intIn(1, 64)("65"), /at most 64/);
  assert.throws(() => oneOf(["on", "off"])("maybe"), /choose one of: on, off/);
});

Deno.test("memory checks and missing files are one-line usage errors", async () => {
  assert.throws(() => checkMemory(8, 1024), /--mem 8 is too small/);
  assert.throws(() => checkMemory(4096, 1024), /more than this host has \(1024 MiB\)/);
  checkMemory(256, 1024);
  assert.ok(hostMemMiB() > 0);
  await assert.rejects(
    readUserFile("kernel", "/nonexistent/vmlinux"),
    /^UsageError: Cannot open kernel \/nonexistent\/vmlinux: no such file$/,
  );
});

Deno.test("a missing /dev/kvm is explained", async () => {
  const { checkKvmAccess } = await import("./host_checks.ts");
  assert.throws(
    () => checkKvmAccess("/nonexistent/kvm"),
    /Cannot open \/nonexistent\/kvm: no such device \(KVM is not available/,
  );
});

Deno.test("--net specs: tap and MAC, plain reasons for everything else", async () => {
  const { parseNetSpec, parseNetSpecs } = await import("./net_spec.ts");
  assert.deepEqual(parseNetSpec("tap=tap0"), { tap: "tap0" });
  assert.deepEqual(parseNetSpec("tap=tap0,mac=02-AB-00-00-00-01"), {
    tap: "tap0",
    mac: "02:ab:00:00:00:01",
  });
  assert.throws(() => parseNetSpec("tap0"), /^UsageError: --net tap0: unknown option "tap0"/);
  assert.throws(() => parseNetSpec("mac=02:00:00:00:00:01"), /name the tap with tap=NAME/);
  assert.throws(() => parseNetSpec("tap="), /is not a network interface name/);
  assert.throws(() => parseNetSpec("tap=x,mac=zz"), /--net tap=x,mac=zz: "zz" is not a MAC/);
  assert.throws(() => parseNetSpec("tap=x,mac=01:00:00:00:00:01"), /multicast/);
  assert.throws(() => parseNetSpec("tap=x,tap=y"), /tap= is given twice/);
  assert.throws(() => parseNetSpecs(["tap=a", "tap=a"]), /tap a is given twice/);
  assert.throws(
    () => parseNetSpecs(["tap=a,mac=02:00:00:00:00:01", "tap=b,mac=02:00:00:00:00:01"]),
    /MAC address 02:00:00:00:00:01 is given twice/,
  );
});
