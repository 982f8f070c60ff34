import assert from "node:assert/strict";
import { UsageError } from "../cli/usage_error.ts";
import { jsonErrorOffset, lineColumn, parseConfigFile } from "./config_file.ts";

Deno.test("jsonErrorOffset: where the text stops being JSON, for every kind of error", () => {
  assert.equal(jsonErrorOffset('{"a": [,]}'), 7);
  assert.equal(jsonErrorOffset('{"a" 1}'), 5);
  assert.equal(jsonErrorOffset("[1, 2"), 5, "ended early: the end");
  assert.equal(jsonErrorOffset("1x"), 1);
  assert.equal(jsonErrorOffset('{"s": "a\u0001"}'), 8);
});

Deno.test("lineColumn: 1-based line and column of a character offset", () => {
  assert.deepEqual(lineColumn("abc", 0), { line: 1, column: 1 });
  assert.deepEqual(lineColumn("{\n  x", 4), { line: 2, column: 3 });
  assert.deepEqual(lineColumn("a\nb\n", 99), { line: 3, column: 1 });
});

Deno.test("parseConfigFile: Firecracker's file shape; errors name the file, the place, the field", () => {
  const c = parseConfigFile(
    "vm.json",
    JSON.stringify({
      "boot-source": { kernel_image_path: "/etc/hostname", boot_args: "console=ttyS0" },
      "drives": [],
      "machine-config": { vcpu_count: 2, mem_size_mib: 256 },
      "network-interfaces": [],
      "balloon": null,
    }),
  );
  assert.equal(c.machineConfig.vcpu_count, 2);
  assert.throws(
    () => parseConfigFile("vm.json", '{\n  "drives": [,]\n}'),
    (e) =>
      e instanceof UsageError && /^Bad config file vm\.json:2:14: not valid JSON: /.test(e.message),
  );
  assert.throws(
    () => parseConfigFile("vm.json", '{"a": 1} x'),
    /Bad config file vm\.json:1:10: not valid JSON: Unexpected non-whitespace character after JSON$/,
  );
  assert.throws(
    () => parseConfigFile("vm.json", '{\n"a":'),
    /vm\.json:2:5: not valid JSON: Unexpected end/,
  );
  assert.throws(
    () => parseConfigFile("vm.json", JSON.stringify({ "drives": [{ drive_id: "a" }] })),
    /Bad config file vm\.json: drives\[0\]: .*missing field `path_on_host`/,
  );
  assert.throws(
    () =>
      parseConfigFile(
        "vm.json",
        JSON.stringify({ "network-interfaces": [{ iface_id: "eth0", host_dev_name: 3 }] }),
      ),
    /network-interfaces\[0\]: .*invalid type for `host_dev_name`/,
  );
  assert.throws(() => parseConfigFile("vm.json", "[]"), /expected an object/);
});
