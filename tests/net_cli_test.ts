/**
 * `--net` mistakes end in one plain line and exit code 2, like every other bad input.
 */

import assert from "node:assert/strict";
import { assertOneLine, denovmm } from "./support/cli_process.ts";
import { HAS_KVM } from "./support/payload_vm.ts";

const cli = (...args: string[]) => denovmm(args);

Deno.test("--net: bad specs and a missing tap exit 2 with one plain line", async (t) => {
  await t.step("a spec without tap=", async () => {
    const r = await cli("run", "--kernel", "/nonexistent/vmlinux", "--net", "tap0");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /^denovmm: --net tap0: unknown option "tap0" \(use tap=NAME/);
  });
  await t.step("a bad MAC", async () => {
    const r = await cli("run", "--kernel", "/nonexistent/vmlinux", "--net", "tap=t0,mac=1:2:3");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /^denovmm: --net tap=t0,mac=1:2:3: "1:2:3" is not a MAC address/);
  });
  await t.step("the same tap twice", async () => {
    const r = await cli("run", "--net", "tap=t0", "--net", "tap=t0");
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, /tap t0 is given twice/);
  });
  await t.step({
    name: "a tap that does not exist",
    ignore: !HAS_KVM,
    fn: async () => {
      // Any readable file passes as the kernel: the taps are opened before it is parsed.
      const r = await cli("run", "--kernel", "/etc/hostname", "--net", "tap=dvnosuchtap0");
      assert.equal(r.code, 2);
      assertOneLine(
        r.stderr.split("\n").filter((l) => !/\bINF\b|kvm_pvm/.test(l)).join("\n"),
        /^denovmm: Cannot open tap dvnosuchtap0: no such network interface \(create it with: ip tuntap add dev dvnosuchtap0 mode tap\)$/,
      );
    },
  });
});
