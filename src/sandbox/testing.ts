/**
 * Helpers for users' own integration tests that boot a guest: one VM per callback, shut down on
 * every exit path, and tests that skip (saying why) on hosts without KVM.
 *
 * @module
 */

import { findCachedGuest } from "../../guest/builder.ts";
import { MicroVm, type MicroVmOptions } from "./micro_vm.ts";

/**
 * Why this process cannot boot a microVM (no /dev/kvm, or no access to it), or undefined when
 * it can.
 *
 * @example
 * ```ts
 * const why = kvmUnavailableReason();
 * if (why) console.log(`skipping: ${why}`);
 * ```
 */
export function kvmUnavailableReason(path = "/dev/kvm"): string | undefined {
  try {
    Deno.openSync(path, { read: true, write: true }).close();
    return undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${path} does not exist (no KVM on this host)`;
    if (e instanceof Deno.errors.PermissionDenied) {
      return `${path} is not readable and writable by this user (add it to the kvm group)`;
    }
    return `${path} cannot be opened: ${(e as Error).message}`;
  }
}

/**
 * Boots a VM, runs `fn` with it and shuts it down whatever `fn` does; returns what `fn` returns.
 *
 * @example
 * ```ts
 * const out = await withMicroVm({}, async (vm) => (await vm.run("uname", { args: ["-r"] })).stdout);
 * ```
 */
export async function withMicroVm<T>(
  opts: MicroVmOptions,
  fn: (vm: MicroVm) => Promise<T>,
): Promise<T> {
  await using vm = await MicroVm.boot(opts);
  return await fn(vm);
}

/**
 * Registers a `Deno.test` that gets a booted VM. Where the host has no usable /dev/kvm, or the
 * default guest is not built (and no kernel is given), the test is ignored and its name says why.
 *
 * @example
 * ```ts
 * microVmTest("the guest has a hostname", {}, async (vm) => {
 *   const r = await vm.run("hostname");
 *   if (r.stdout.trim() !== "denovmm") throw new Error(r.stdout);
 * });
 * ```
 */
export function microVmTest(
  name: string,
  opts: MicroVmOptions,
  fn: (vm: MicroVm, t: Deno.TestContext) => Promise<void>,
): void {
  let why = kvmUnavailableReason(opts.kvmPath);
  if (why === undefined && opts.kernel === undefined && findCachedGuest() === undefined) {
    why = "the default guest is not built (run `deno task guest`)";
  }
  Deno.test({
    name: why === undefined ? name : `${name} (skipped: ${why})`,
    ignore: why !== undefined,
    // The VM's Workers, eventfds and timers live across the body's awaits by design and are all
    // released by the shutdown at the end; Deno's per-test leak checks would misread them.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: (t) => withMicroVm(opts, (vm) => fn(vm, t)),
  });
}
