import assert from "node:assert/strict";
import { kvmUnavailableReason, microVmTest } from "./testing.ts";

Deno.test("kvmUnavailableReason: a missing device is named, with why it matters", () => {
  assert.equal(
    kvmUnavailableReason("/nonexistent/kvm"),
    "/nonexistent/kvm does not exist (no KVM on this host)",
  );
  const dir = Deno.makeTempDirSync();
  try {
    assert.match(kvmUnavailableReason(dir) ?? "", new RegExp(`^${dir} cannot be opened`));
  } finally {
    Deno.removeSync(dir);
  }
});

// Registered as an ignored test named "... (skipped: /nonexistent/kvm does not exist ...)"; were
// the helper to run it anyway, the body fails the suite.
microVmTest("microVmTest skips where there is no KVM", { kvmPath: "/nonexistent/kvm" }, () => {
  throw new Error("microVmTest ran a VM test on a host without KVM");
});
