/**
 * End to end, the sandbox as users meet it first, three boots at once: `denovmm exec -- uname -a`,
 * `denovmm exec -- false`, and the README's "Scripted sandboxes" example run as written (fed to
 * `deno run -A -` from the repository root, so its `./mod.ts` import resolves as in the README).
 */

import assert from "node:assert/strict";
import { findCachedGuest } from "../guest/builder.ts";
import { kvmUnavailableReason } from "../src/sandbox/testing.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

/**
 * The first ```ts block under the README heading `heading`.
 *
 * @example
 * ```ts
 * readmeExample("## Scripted sandboxes");
 * ```
 */
export function readmeExample(heading: string): string {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no "${heading}" section`);
  const m = readme.slice(at).match(/```ts\n([\s\S]*?)```/);
  assert.ok(m, `the "${heading}" section has no ts block`);
  return m[1];
}

async function run(args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "denovmm exec -- uname -a / -- false, and the README sandbox example, as written",
  ignore: kvmUnavailableReason() !== undefined || findCachedGuest() === undefined,
  fn: async (t) => {
    const example = readmeExample("## Scripted sandboxes");
    assert.ok(example.split("\n").filter((l) => l.trim()).length <= 5, example);
    const [uname, no, readme] = await Promise.all([
      run(["run", "-A", MAIN, "exec", "--", "uname", "-a"]),
      run(["run", "-A", MAIN, "exec", "--", "false"]),
      run(["run", "-A", "-"], example),
    ]);
    await t.step("exec -- uname -a prints the guest kernel's uname and exits 0", () => {
      assert.equal(uname.code, 0, uname.stderr);
      assert.match(uname.stdout, /^Linux denovmm 6\.1\.\d+-denovmm #1 SMP .* x86_64 GNU\/Linux\n$/);
    });
    await t.step("exec -- false exits 1", () => {
      assert.equal(no.code, 1, no.stderr);
      assert.equal(no.stdout, "");
    });
    await t.step("the README example prints the exit code and the guest's uname", () => {
      assert.equal(readme.code, 0, readme.stderr);
      assert.match(readme.stdout, /^0 Linux denovmm 6\.1\.\d+-denovmm .*\n/);
    });
  },
});
