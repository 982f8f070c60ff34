/**
 * Strict readers for JSON request bodies: the object must be an object, carry no field outside
 * its schema, and every field must have its JSON type. `null` counts as absent, as serde treats
 * `Option` fields, so SDKs that send `"partuuid": null` are accepted.
 *
 * @module
 */

import { bodyError } from "./api_error.ts";

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "number") return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  if (typeof v === "string") return `string ${JSON.stringify(v.slice(0, 40))}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * One JSON object of a request body, read field by field.
 *
 * @example
 * ```ts
 * const o = JsonFields.of(JSON.parse(text), ["vcpu_count", "mem_size_mib"]);
 * const vcpus = o.integer("vcpu_count", { required: true, min: 1, max: 32 });
 * ```
 */
export class JsonFields {
  readonly #o: Record<string, unknown>;
  readonly #where: string;

  private constructor(o: Record<string, unknown>, where: string) {
    this.#o = o;
    this.#where = where;
  }

  /**
   * Checks that `value` is an object whose fields are all in `allowed`.
   *
   * @example
   * ```ts
   * JsonFields.of({ a: 1 }, ["a", "b"]);
   * ```
   */
  static of(
    value: unknown,
    allowed: readonly string[],
    where = "",
    o2: { anyField?: boolean } = {},
  ): JsonFields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw bodyError(
        `invalid type${where ? ` for \`${where}\`` : ""}: ${typeName(value)}, expected an object`,
      );
    }
    const o = value as Record<string, unknown>;
    if (o2.anyField) return new JsonFields(o, where);
    for (const key of Object.keys(o)) {
      if (!allowed.includes(key)) {
        throw bodyError(
          `unknown field \`${key.slice(0, 64)}\`${
            where ? ` in \`${where}\`` : ""
          }, expected one of ${allowed.map((a) => `\`${a}\``).join(", ")}`,
        );
      }
    }
    return new JsonFields(o, where);
  }

  #name(field: string): string {
    return this.#where ? `${this.#where}.${field}` : field;
  }

  #get(field: string, required: boolean): unknown {
    const v = Object.hasOwn(this.#o, field) ? this.#o[field] : undefined;
    if ((v === undefined || v === null) && required) {
      throw bodyError(`missing field \`${this.#name(field)}\``);
    }
    return v ?? undefined;
  }

  #wrong(field: string, v: unknown, expected: string): never {
    throw bodyError(
      `invalid type for \`${this.#name(field)}\`: ${typeName(v)}, expected ${expected}`,
    );
  }

  /**
   * A string field.
   *
   * @example
   * ```ts
   * o.string("kernel_image_path", { required: true });
   * ```
   */
  string(field: string, o: { required: true }): string;
  string(field: string, o?: { required?: boolean }): string | undefined;
  string(field: string, o: { required?: boolean } = {}): string | undefined {
    const v = this.#get(field, o.required ?? false);
    if (v === undefined) return undefined;
    if (typeof v !== "string") this.#wrong(field, v, "a string");
    return v;
  }

  /**
   * A boolean field.
   *
   * @example
   * ```ts
   * o.boolean("is_read_only", { required: true });
   * ```
   */
  boolean(field: string, o: { required: true }): boolean;
  boolean(field: string, o?: { required?: boolean }): boolean | undefined;
  boolean(field: string, o: { required?: boolean } = {}): boolean | undefined {
    const v = this.#get(field, o.required ?? false);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") this.#wrong(field, v, "a boolean");
    return v;
  }

  /**
   * An integer field within [min, max].
   *
   * @example
   * ```ts
   * o.integer("mem_size_mib", { required: true, min: 0, max: 2 ** 32 });
   * ```
   */
  integer(field: string, o: { required: true; min: number; max: number }): number;
  integer(field: string, o: { required?: boolean; min: number; max: number }): number | undefined;
  integer(
    field: string,
    o: { required?: boolean; min: number; max: number },
  ): number | undefined {
    const v = this.#get(field, o.required ?? false);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this.#wrong(field, v, "an integer");
    if (v < o.min || v > o.max) {
      throw bodyError(
        `invalid value for \`${
          this.#name(field)
        }\`: ${v}, expected an integer from ${o.min} to ${o.max}`,
      );
    }
    return v;
  }

  /**
   * A string field restricted to `values`.
   *
   * @example
   * ```ts
   * o.oneOf("io_engine", ["Sync", "Async"] as const);
   * ```
   */
  oneOf<T extends string>(field: string, values: readonly T[], o: { required: true }): T;
  oneOf<T extends string>(
    field: string,
    values: readonly T[],
    o?: { required?: boolean },
  ): T | undefined;
  oneOf<T extends string>(
    field: string,
    values: readonly T[],
    o: { required?: boolean } = {},
  ): T | undefined {
    const v = this.string(field, o);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw bodyError(
        `unknown variant \`${v.slice(0, 64)}\` for \`${this.#name(field)}\`, expected one of ${
          values.map((a) => `\`${a}\``).join(", ")
        }`,
      );
    }
    return v as T;
  }

  /**
   * A nested object field, read with its own allowed fields.
   *
   * @example
   * ```ts
   * const rl = o.object("rate_limiter", ["bandwidth", "ops"]);
   * ```
   */
  object(
    field: string,
    allowed: readonly string[],
    o: { anyField?: boolean } = {},
  ): JsonFields | undefined {
    const v = this.#get(field, false);
    if (v === undefined) return undefined;
    return JsonFields.of(v, allowed, this.#name(field), o);
  }

  /** The object's field names (for maps such as metrics `properties`). @example `o.keys()` */
  keys(): string[] {
    return Object.keys(this.#o);
  }
}
