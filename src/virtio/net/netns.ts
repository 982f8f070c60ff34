/**
 * Running a synchronous step inside a named network namespace (`ip netns add NAME`, bound at
 * /run/netns/NAME) on the calling thread only. Linux keeps the network namespace per thread,
 * and a tap fd stays bound to the namespace it was attached in, so a process can open a tap that
 * lives in another namespace without moving itself there.
 *
 * @module
 */

import { check, errno, ErrnoError } from "../../../ffi/errno.ts";
import { CLONE_NEWNET, libc, O_CLOEXEC, O_RDONLY } from "../../../ffi/libc.ts";

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

/** Where `ip netns` binds named namespaces. */
export const NETNS_DIR = "/run/netns";

/**
 * Calls `fn` with the calling thread in network namespace `name`, and moves the thread back
 * before returning or throwing. Needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * const fd = inNetns("denovmm-test", () => openTheTap());
 * ```
 */
export function inNetns<T>(name: string, fn: () => T): T {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === "." || name === "..") {
    throw new Error(`"${name}" is not a network namespace name`);
  }
  const target = libc.symbols.open(cstr(`${NETNS_DIR}/${name}`), O_RDONLY | O_CLOEXEC, 0);
  if (target < 0) {
    const e = errno();
    throw new Error(
      e === 2
        ? `There is no network namespace named ${name} (ip netns add ${name})`
        : `Cannot open network namespace ${name}: ${new ErrnoError("open", e).message}`,
    );
  }
  let home = -1;
  try {
    home = check(
      "open /proc/thread-self/ns/net",
      libc.symbols.open(cstr("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0),
    );
    check(`setns into network namespace ${name}`, libc.symbols.setns(target, CLONE_NEWNET));
    try {
      return fn();
    } finally {
      check("setns back to the original network namespace", libc.symbols.setns(home, CLONE_NEWNET));
    }
  } finally {
    if (home >= 0) libc.symbols.close(home);
    libc.symbols.close(target);
  }
}
