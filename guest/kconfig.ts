/**
 * Kernel config text: parsing a fragment or a `.config`, and checking that a fragment's options
 * survived `make olddefconfig` (Kconfig silently drops an option whose dependencies are not met).
 *
 * @module
 */

const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/**
 * Parses config text into option → value. `# CONFIG_X is not set` reads as `n`; values keep
 * their quotes (`"-denovmm"`); other comments and blank lines are skipped.
 *
 * @example
 * ```ts
 * const c = parseConfig('CONFIG_SMP=y\n# CONFIG_PCI is not set\nCONFIG_LOCALVERSION="-x"');
 * c.get("CONFIG_PCI"); // "n"
 * c.get("CONFIG_LOCALVERSION"); // '"-x"'
 * ```
 */
export function parseConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const set = SET.exec(line);
    if (set) {
      out.set(set[1], set[2]);
      continue;
    }
    const off = NOT_SET.exec(line);
    if (off) out.set(off[1], "n");
  }
  return out;
}

/**
 * A canonical text of parsed options (sorted), so comments and order do not change a hash.
 *
 * @example
 * ```ts
 * normalizeFragment(parseConfig("CONFIG_B=y\n# note\nCONFIG_A=n")); // "CONFIG_A=n\nCONFIG_B=y\n"
 * ```
 */
export function normalizeFragment(options: Map<string, string>): string {
  return [...options].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}\n`).join("");
}

/**
 * The fragment's options that did not stick in the final `.config`, each as
 * `CONFIG_X=want (got …)`. An option the fragment sets to `n` only has to be off: absent from
 * `.config` (its dependencies are off) is fine, enabled is not.
 *
 * @example
 * ```ts
 * const fragment = parseConfig("CONFIG_SMP=y\nCONFIG_PCI=n\nCONFIG_PVH=y");
 * configMismatches(fragment, "CONFIG_SMP=y\nCONFIG_PCI=y\n");
 * // ["CONFIG_PCI=n (got y)", "CONFIG_PVH=y (got unset)"]
 * ```
 */
export function configMismatches(fragment: Map<string, string>, dotConfig: string): string[] {
  const actual = parseConfig(dotConfig);
  const bad: string[] = [];
  for (const [key, want] of fragment) {
    const got = actual.get(key);
    const ok = want === "n" ? got === undefined || got === "n" : got === want;
    if (!ok) bad.push(`${key}=${want} (got ${got ?? "unset"})`);
  }
  return bad;
}
