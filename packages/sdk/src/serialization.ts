/**
 * Task output serialization (Baton extension §3 of docs/ARCHITECTURE.md).
 *
 * Outputs go through superjson so Date, BigInt, Map, Set, RegExp, URL, Error, undefined, NaN and ±Infinity keep
 * their types. On the wire: `output` = JSON text of superjson's `json` part (absent for `undefined`), `outputMeta` =
 * superjson's `meta` (absent when plain JSON suffices). v2 turned Dates into strings; we never change a value
 * silently: what superjson cannot represent fails the task with an error naming the key, the path and the type.
 */
import { isPlainJsonTree, type PlainJsonRules } from "@baton/core";
import superjson from "superjson";
import { BatonError } from "./errors";

/** Default output size limit: 3 MiB, as v2's complete route ("Output must be less than 3MB"). */
export const DEFAULT_OUTPUT_LIMIT_BYTES = 3 * 1024 * 1024;

/** A serialized task output and the value every replay will see. */
export interface SerializedOutput {
  /** JSON text of superjson's `json` part; undefined when the value is `undefined`. */
  readonly output: string | undefined;
  /** superjson's `meta`; undefined when plain JSON carries the value exactly. */
  readonly outputMeta: unknown;
  /** The value deserialized back from `output`/`outputMeta`: what the first execution returns, like a replay. */
  readonly value: unknown;
  /** UTF-8 size of `output` plus the JSON of `outputMeta`, in bytes. */
  readonly bytes: number;
}

/** Where a value cannot be serialized and why. */
export interface Unserializable {
  /** `output.a.b[2]`-style path. */
  readonly path: string;
  /** What was found there, e.g. `function`, `symbol`, `cycle`, `class instance Foo`. */
  readonly type: string;
}

const PLAIN_PROTOTYPES = new Set<unknown>([Object.prototype, null]);

function describeKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * Finds the first part of `value` that superjson cannot round-trip: a function, a symbol (as value or key),
 * a reference cycle, or an instance of a class other than Date, RegExp, URL, Error, Map, Set and Array.
 * Returns undefined when the whole value is representable.
 */
export function findUnserializable(value: unknown, path = "output"): Unserializable | undefined {
  const ancestors: object[] = [];
  const ancestorPaths: string[] = [];

  const visit = (v: unknown, p: string): Unserializable | undefined => {
    switch (typeof v) {
      case "function":
        return { path: p, type: `function${v.name ? ` ${v.name}` : ""}` };
      case "symbol":
        return { path: p, type: "symbol" };
      case "object":
        break;
      default:
        return undefined;
    }
    if (v === null) return undefined;
    const index = ancestors.indexOf(v);
    if (index >= 0) return { path: p, type: `cycle (refers back to ${ancestorPaths[index] ?? path})` };
    if (v instanceof Date || v instanceof RegExp || v instanceof URL) return undefined;

    ancestors.push(v);
    ancestorPaths.push(p);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const found = visit(v[i], `${p}[${i}]`);
          if (found) return found;
        }
        return undefined;
      }
      if (v instanceof Map) {
        let i = 0;
        for (const [k, item] of v) {
          const foundKey = visit(k, `${p}.<map key ${i}>`);
          if (foundKey) return foundKey;
          const found = visit(item, `${p}.<map value ${i}>`);
          if (found) return found;
          i++;
        }
        return undefined;
      }
      if (v instanceof Set) {
        let i = 0;
        for (const item of v) {
          const found = visit(item, `${p}.<set item ${i}>`);
          if (found) return found;
          i++;
        }
        return undefined;
      }
      if (v instanceof Error) return undefined;
      const proto: unknown = Object.getPrototypeOf(v);
      if (!PLAIN_PROTOTYPES.has(proto)) {
        const ctorName = (v as { constructor?: { name?: string } }).constructor?.name;
        return { path: p, type: `class instance ${ctorName || "(anonymous class)"}` };
      }
      if (Object.getOwnPropertySymbols(v).length > 0) return { path: p, type: "symbol key" };
      for (const [k, item] of Object.entries(v)) {
        const found = visit(item, describeKey(p, k));
        if (found) return found;
      }
      return undefined;
    } finally {
      ancestors.pop();
      ancestorPaths.pop();
    }
  };

  return visit(value, path);
}

/**
 * What superjson carries as is, with no meta (so its JSON text is `JSON.stringify(value)` and nothing about it is
 * unserializable): no -0, none of the keys superjson refuses (prototype pollution), nested at most 64 levels.
 */
const SUPERJSON_PLAIN: PlainJsonRules = { maxDepth: 64, refuseNegativeZero: true, refusedKeys: new Set(["__proto__", "constructor", "prototype"]) };

function isPlainJson(value: unknown): boolean {
  return isPlainJsonTree(value, SUPERJSON_PLAIN);
}

/**
 * Serializes a task output.
 * @param key the task's display key, named in errors
 * @param limitBytes maximum `bytes` (default {@link DEFAULT_OUTPUT_LIMIT_BYTES})
 * @throws BatonError `TASK_OUTPUT_UNSERIALIZABLE` (names key, path and type) or `TASK_OUTPUT_TOO_LARGE`
 *   (names the limit); both are not retryable.
 */
export function serializeOutput(key: string, value: unknown, limitBytes = DEFAULT_OUTPUT_LIMIT_BYTES): SerializedOutput {
  if (isPlainJson(value)) {
    // what superjson gives for it: json = a copy of the value, no meta
    const output = JSON.stringify(value);
    const bytes = Buffer.byteLength(output, "utf8");
    if (bytes > limitBytes) throw outputTooLarge(key, bytes, limitBytes);
    return {
      output,
      outputMeta: undefined,
      value: typeof value === "object" && value !== null ? (JSON.parse(output) as unknown) : value,
      bytes,
    };
  }
  const bad = findUnserializable(value);
  if (bad) {
    throw new BatonError(
      "TASK_OUTPUT_UNSERIALIZABLE",
      `Task "${key}" returned a value that cannot be serialized: ${bad.type} at ${bad.path}`,
      { retryable: false },
    );
  }
  let json: unknown;
  let meta: unknown;
  try {
    ({ json, meta } = superjson.serialize(value));
  } catch (error) {
    throw new BatonError(
      "TASK_OUTPUT_UNSERIALIZABLE",
      `Task "${key}" returned a value that cannot be serialized: ${error instanceof Error ? error.message : String(error)}`,
      { retryable: false, cause: error },
    );
  }
  const output = value === undefined ? undefined : JSON.stringify(json);
  const metaText = meta === undefined ? "" : JSON.stringify(meta);
  const bytes = (output === undefined ? 0 : Buffer.byteLength(output, "utf8")) + Buffer.byteLength(metaText, "utf8");
  if (bytes > limitBytes) throw outputTooLarge(key, bytes, limitBytes);
  return { output, outputMeta: meta, value: deserializeOutput(output === undefined ? undefined : JSON.parse(output), meta), bytes };
}

function outputTooLarge(key: string, bytes: number, limitBytes: number): BatonError {
  return new BatonError(
    "TASK_OUTPUT_TOO_LARGE",
    `Task "${key}" output is ${bytes} bytes, over the limit of ${limitBytes} bytes (${formatBytes(limitBytes)})`,
    { retryable: false },
  );
}

/**
 * Rebuilds a task output from the stored JSON value (`CachedTask.output`, already parsed) and `outputMeta`.
 * Without meta this is plain v2 JSON; a JSON string given where the server forwarded raw text is kept as is.
 */
export function deserializeOutput(output: unknown, outputMeta: unknown): unknown {
  if (outputMeta === undefined || outputMeta === null) return output === null ? null : output;
  return superjson.deserialize({ json: (output ?? null) as never, meta: outputMeta as never });
}

/**
 * JSON value of a run's final output (the v2 `SUCCESS.output`): superjson's `json` part, so BigInt and Map do not
 * throw; the run output has no meta on the wire, so an `undefined` property is left out (as JSON and v2 do) rather
 * than turned into `null`.
 */
export function toRunOutputJson(value: unknown): unknown {
  // superjson's json of a plain JSON value is a copy of it
  if (isPlainJson(value)) return typeof value === "object" && value !== null ? (JSON.parse(JSON.stringify(value)) as unknown) : value;
  const bad = findUnserializable(value);
  if (bad) {
    throw new BatonError("TASK_OUTPUT_UNSERIALIZABLE", `The run's return value cannot be serialized: ${bad.type} at ${bad.path}`, {
      retryable: false,
    });
  }
  return value === undefined ? undefined : dropUndefinedProperties(value, superjson.serialize(value).json);
}

/** Deletes from `json` (superjson's `json` of `value`) the plain-object properties that are `undefined` in `value`. */
function dropUndefinedProperties(value: unknown, json: unknown): unknown {
  if (typeof value !== "object" || value === null || typeof json !== "object" || json === null) return json;
  if (Array.isArray(value)) {
    if (Array.isArray(json)) value.forEach((item, i) => dropUndefinedProperties(item, json[i]));
    return json;
  }
  if (!PLAIN_PROTOTYPES.has(Object.getPrototypeOf(value))) return json;
  const target = json as Record<string, unknown>;
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) delete target[key];
    else dropUndefinedProperties(item, target[key]);
  }
  return json;
}

function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}
