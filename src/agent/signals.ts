/**
 * Linux x86-64 signal numbers, which the agent protocol carries (the guest's numbering, whatever
 * the host is).
 *
 * @module
 */

/** Signal names the sandbox API accepts, with their Linux numbers. */
export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCONT: 18,
  SIGSTOP: 19,
} as const;

/** A signal name from {@link SIGNALS}. */
export type SignalName = keyof typeof SIGNALS;

/**
 * The number of a signal name; throws TypeError for an unknown one.
 *
 * @example
 * ```ts
 * signalNumber("SIGTERM"); // 15
 * ```
 */
export function signalNumber(name: SignalName): number {
  const n = SIGNALS[name];
  if (n === undefined) {
    throw new TypeError(`Unknown signal ${name} (known: ${Object.keys(SIGNALS).join(", ")})`);
  }
  return n;
}

/**
 * The name of a Linux signal number (`SIG<n>` for one not in the table).
 *
 * @example
 * ```ts
 * signalName(9); // "SIGKILL"
 * ```
 */
export function signalName(n: number): string {
  for (const [name, num] of Object.entries(SIGNALS)) if (num === n) return name;
  return `SIG${n}`;
}
