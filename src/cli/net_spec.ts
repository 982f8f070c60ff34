/**
 * `--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]`: a network interface on an existing tap.
 *
 * @module
 */

import { parseMac } from "../virtio/net/mac.ts";
import { checkIfName } from "../virtio/net/tap_backend.ts";
import type { NetConfig } from "../vmm/machine_devices.ts";
import { UsageError } from "./usage_error.ts";

/**
 * Parses one `--net` value; throws {@link UsageError} saying what is wrong.
 *
 * @example
 * ```ts
 * parseNetSpec("tap=tap0,mac=02:00:00:00:00:01"); // { tap: "tap0", mac: "02:00:00:00:00:01" }
 * ```
 */
export function parseNetSpec(spec: string): NetConfig {
  const what = `--net ${spec}`;
  let tap: string | undefined;
  let mac: string | undefined;
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (key === "tap" && tap === undefined) {
      try {
        checkIfName(value);
      } catch (e) {
        throw new UsageError(`${what}: ${(e as Error).message}`);
      }
      tap = value;
    } else if (key === "mac" && mac === undefined) {
      try {
        parseMac(value);
      } catch (e) {
        throw new UsageError(`${what}: ${(e as Error).message}`);
      }
      mac = value.toLowerCase().replaceAll("-", ":");
    } else if (key === "tap" || key === "mac") {
      throw new UsageError(`${what}: ${key}= is given twice`);
    } else {
      throw new UsageError(
        `${what}: unknown option "${part}" (use tap=NAME and optionally mac=XX:XX:XX:XX:XX:XX)`,
      );
    }
  }
  if (tap === undefined) throw new UsageError(`${what}: name the tap with tap=NAME`);
  return mac === undefined ? { tap } : { tap, mac };
}

/**
 * Parses every `--net` value and refuses a tap or a MAC given twice.
 *
 * @example
 * ```ts
 * parseNetSpecs(["tap=tap0", "tap=tap1"]); // two interfaces: eth0 on tap0, eth1 on tap1
 * ```
 */
export function parseNetSpecs(specs: string[]): NetConfig[] {
  const nets = specs.map(parseNetSpec);
  nets.forEach((n, i) => {
    if (nets.findIndex((m) => m.tap === n.tap) !== i) {
      throw new UsageError(`--net: tap ${n.tap} is given twice`);
    }
    if (n.mac !== undefined && nets.findIndex((m) => m.mac === n.mac) !== i) {
      throw new UsageError(`--net: MAC address ${n.mac} is given twice`);
    }
  });
  return nets;
}
