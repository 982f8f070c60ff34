/**
 * Option-value parsers for the CLI: each returns the typed value or throws commander's
 * InvalidArgumentError with a plain reason.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";

/**
 * A parser for a whole number within [min, max].
 *
 * @example
 * ```ts
 * intIn(1, 64)("2"); // 2
 * ```
 */
export function intIn(min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`"${v}" is not a whole number.`);
    }
    if (n < min) throw new InvalidArgumentError(`it must be at least ${min}.`);
    if (n > max) throw new InvalidArgumentError(`it must be at most ${max}.`);
    return n;
  };
}

/**
 * A parser accepting one of `choices`.
 *
 * @example
 * ```ts
 * oneOf(["on", "off"])("on"); // "on"
 * ```
 */
export function oneOf<T extends string>(choices: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(choices as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(`choose one of: ${choices.join(", ")}.`);
    }
    return v as T;
  };
}
