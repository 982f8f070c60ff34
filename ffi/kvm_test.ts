import assert from "node:assert/strict";
import { ErrnoError, errnoName, strerror } from "./errno.ts";
import { Kvm, Vcpu, Vm } from "./kvm.ts";
import { libc } from "./libc.ts";

const EBADF = 9;

Deno.test("errno: a failed close reports EBADF with its text", () => {
  assert.equal(libc.symbols.close(-1), -1);
  const e = new ErrnoError("close", EBADF);
  assert.equal(e.code, EBADF);
  assert.match(e.message, /^close failed: Bad file descriptor \(EBADF\)$/);
  assert.equal(errnoName(22), "EINVAL");
  assert.equal(strerror(2), "No such file or directory");
});

Deno.test("ioctls on bad fds throw ErrnoError naming the ioctl", () => {
  const vm = new Vm(-1);
  assert.throws(
    () => vm.createIrqchip(),
    (e) => e instanceof ErrnoError && e.operation === "KVM_CREATE_IRQCHIP" && e.code === EBADF,
  );
  assert.throws(() => vm.irqLine(4, 1), /KVM_IRQ_LINE failed: Bad file descriptor/);
  assert.throws(() => vm.createVcpu(0, 4096), /KVM_CREATE_VCPU 0 failed/);
  assert.throws(() => Vcpu.fromFd(-1, 3, 4096), /mmap kvm_run of vCPU 3 failed/);
});

Deno.test("opening a missing KVM device names the path and errno", () => {
  assert.throws(
    () => Kvm.open("/nonexistent/kvm"),
    (e) => e instanceof ErrnoError && e.operation === "open /nonexistent/kvm" && e.code === 2,
  );
});

const hasKvm = (() => {
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({ name: "KVM: API version 12 and a VM with irqchip", ignore: !hasKvm }, () => {
  using kvm = Kvm.open();
  assert.equal(kvm.apiVersion(), 12);
  assert.ok(kvm.vcpuMmapSize() >= 4096);
  assert.ok(kvm.supportedCpuid().some((e) => e.function === 0));
  using vm = kvm.createVm();
  vm.createIrqchip();
  // A second irqchip is refused: the error still names the ioctl.
  assert.throws(
    () => vm.createIrqchip(),
    (e) => e instanceof ErrnoError && e.operation === "KVM_CREATE_IRQCHIP",
  );
  const vcpu = vm.createVcpu(0, kvm.vcpuMmapSize());
  assert.equal(vcpu.getRegs().rip, 0xfff0n); // reset vector
  vcpu.close();
});
