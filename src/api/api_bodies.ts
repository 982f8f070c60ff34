/**
 * Parsers for the bodies of the runtime requests: `PUT /actions` and `PATCH /vm`.
 *
 * @module
 */

import { JsonFields } from "./json_fields.ts";

/** The actions `PUT /actions` accepts (Firecracker's InstanceActionInfo.action_type). */
export const ACTION_TYPES = ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"] as const;
/** One of {@link ACTION_TYPES}. */
export type ActionType = typeof ACTION_TYPES[number];

/**
 * Parses a `PUT /actions` body.
 *
 * @example
 * ```ts
 * parseAction({ action_type: "InstanceStart" }); // "InstanceStart"
 * ```
 */
export function parseAction(body: unknown): ActionType {
  const o = JsonFields.of(body, ["action_type"]);
  return o.oneOf("action_type", ACTION_TYPES, { required: true });
}

/**
 * Parses a `PATCH /vm` body (Firecracker's Vm object).
 *
 * @example
 * ```ts
 * parseVmState({ state: "Paused" }); // "Paused"
 * ```
 */
export function parseVmState(body: unknown): "Paused" | "Resumed" {
  const o = JsonFields.of(body, ["state"]);
  return o.oneOf("state", ["Paused", "Resumed"] as const, { required: true });
}
