/**
 * A fast path for zod schemas applied to `JSON.parse` output (the EXECUTE_JOB body on the endpoint, the endpoint's
 * answer on the server): a parser compiled once from the schema's definition that builds exactly what `schema.parse`
 * would (same keys in the same order, defaults, coerced dates, unknown keys stripped) for the inputs it is sure
 * about, and answers {@link FAST_PARSE_FAILED} for everything else: invalid input, and valid input it does not model
 * (then the caller runs the zod parse, which gives the verdict and the error issues). So it never accepts what the
 * schema rejects, and the zod parse still decides and words every rejection.
 *
 * Modelled: objects (strip mode), optional, nullable, default, arrays without checks, enums, literals, discriminated
 * unions, string / number / boolean without checks, coerced dates (from a string or a number), unknown / any, and
 * the given JSON schemas (`z.json()`: any JSON value without a `__proto__` key, which zod drops). Other leaves (with
 * checks, say) are parsed by their own zod schema; any other kind of schema fails the fast path where a value meets
 * it.
 */
import type { z } from "zod";
import { isPlainJsonTree, type PlainJsonRules } from "./json-tree";

/** What a compiled fast parser returns when the zod parse must decide. */
export const FAST_PARSE_FAILED: unique symbol = Symbol("fast parse failed");

/** A compiled fast parser of a schema: its output, or {@link FAST_PARSE_FAILED}. */
export type FastParser<T> = (value: unknown) => T | typeof FAST_PARSE_FAILED;

type Parse = (value: unknown) => unknown;

/** The parts of a zod 4 schema the compiler reads (`schema._zod`). */
interface ZodInternals {
  readonly def: {
    readonly type: string;
    readonly checks?: readonly unknown[];
    readonly coerce?: boolean;
    readonly innerType?: unknown;
    readonly element?: unknown;
    readonly shape?: Record<string, unknown>;
    readonly catchall?: unknown;
    readonly defaultValue?: unknown;
    readonly options?: readonly unknown[];
    readonly discriminator?: string;
    readonly unionFallback?: boolean;
  };
  readonly optin?: string;
  readonly optout?: string;
  readonly values?: ReadonlySet<unknown>;
}

/** The JSON values `z.json()` takes as they are (zod drops a `__proto__` key; deeper than 256 levels is left to zod). */
const ZOD_JSON: PlainJsonRules = { maxDepth: 256, refuseNegativeZero: false, refusedKeys: new Set(["__proto__"]) };

const failed: Parse = () => FAST_PARSE_FAILED;

function internals(schema: unknown): ZodInternals | undefined {
  const zod = (schema as { _zod?: ZodInternals } | null | undefined)?._zod;
  return zod && typeof zod.def?.type === "string" ? zod : undefined;
}

/**
 * Compiles the fast parser of `schema` (see the module comment). `jsonSchemas` are the `z.json()` instances the schema
 * uses (recognized by identity).
 */
export function compileFastParser<S extends z.ZodType>(schema: S, jsonSchemas: readonly unknown[] = []): FastParser<z.output<S>> {
  const json = new Set(jsonSchemas);
  return compile(schema, json) as FastParser<z.output<S>>;
}

function compile(schema: unknown, json: ReadonlySet<unknown>): Parse {
  if (json.has(schema)) return (value) => (isPlainJsonTree(value, ZOD_JSON) ? value : FAST_PARSE_FAILED);
  const zod = internals(schema);
  if (!zod) return failed;
  const def = zod.def;
  const plain = (def.checks === undefined || def.checks.length === 0) && def.coerce !== true;
  switch (def.type) {
    case "string":
      return plain ? (value) => (typeof value === "string" ? value : FAST_PARSE_FAILED) : viaZod(schema);
    case "boolean":
      return plain ? (value) => (typeof value === "boolean" ? value : FAST_PARSE_FAILED) : viaZod(schema);
    case "number":
      return plain ? (value) => (typeof value === "number" && Number.isFinite(value) ? value : FAST_PARSE_FAILED) : viaZod(schema);
    case "literal": {
      const values = zod.values;
      return values ? (value) => (values.has(value) ? value : FAST_PARSE_FAILED) : failed;
    }
    case "union":
      return compileDiscriminatedUnion(def, json);
    case "enum": {
      const values = zod.values;
      return values && plain ? (value) => (typeof value === "string" && values.has(value) ? value : FAST_PARSE_FAILED) : viaZod(schema);
    }
    case "date":
      if (def.coerce !== true || (def.checks !== undefined && def.checks.length > 0)) return viaZod(schema);
      return (value) => {
        if (typeof value !== "string" && typeof value !== "number") return FAST_PARSE_FAILED;
        const date = new Date(value);
        return Number.isNaN(date.getTime()) ? FAST_PARSE_FAILED : date;
      };
    case "unknown":
    case "any":
      return (value) => value;
    case "optional": {
      // (an optional met only as an absent object property, which compileObject handles, or as a present value)
      const inner = internals(def.innerType);
      if (!inner || inner.optin !== undefined) return failed;
      const parse = compile(def.innerType, json);
      return (value) => (value === undefined ? FAST_PARSE_FAILED : parse(value));
    }
    case "nullable": {
      const parse = compile(def.innerType, json);
      return (value) => (value === null ? null : parse(value));
    }
    case "default": {
      const inner = internals(def.innerType);
      if (!inner || inner.optin !== undefined) return failed;
      const parse = compile(def.innerType, json);
      return (value) => {
        if (value !== undefined) return parse(value);
        // read per use, as zod does (a getter: a default given as a function is called each time)
        const fallback = def.defaultValue;
        return fallback === null || (typeof fallback !== "object" && typeof fallback !== "function") ? fallback : FAST_PARSE_FAILED;
      };
    }
    case "array": {
      if (!plain) return failed;
      const parse = compile(def.element, json);
      return (value) => {
        if (!Array.isArray(value)) return FAST_PARSE_FAILED;
        const out: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
          const item = parse(value[i]);
          if (item === FAST_PARSE_FAILED) return FAST_PARSE_FAILED;
          out.push(item);
        }
        return out;
      };
    }
    case "object":
      return compileObject(def, json);
    default:
      return failed;
  }
}

/** A leaf schema with checks (or coercion) the compiler does not model: its own zod parse, which is exact. */
function viaZod(schema: unknown): Parse {
  const leaf = schema as z.ZodType;
  return (value) => {
    const result = leaf.safeParse(value);
    return result.success ? result.data : FAST_PARSE_FAILED;
  };
}

/**
 * A discriminated union (`z.discriminatedUnion(key, options)`): the option whose literal at `key` is the value's,
 * parsed by that option alone, as zod does. A plain union, or one with `unionFallback`, is not modelled.
 */
function compileDiscriminatedUnion(def: ZodInternals["def"], json: ReadonlySet<unknown>): Parse {
  const key = def.discriminator;
  if (typeof key !== "string" || def.unionFallback || !def.options?.length) return failed;
  const byValue = new Map<unknown, Parse>();
  for (const option of def.options) {
    const values = internals(internals(option)?.def.shape?.[key])?.values;
    if (!values || internals(option)?.def.type !== "object") return failed;
    const parse = compile(option, json);
    for (const v of values) if (!byValue.has(v)) byValue.set(v, parse);
  }
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return FAST_PARSE_FAILED;
    const parse = byValue.get((value as Record<string, unknown>)[key]);
    return parse ? parse(value) : FAST_PARSE_FAILED;
  };
}

/** How an object property is read: required, optional (absent = left out) or defaulted (always written). */
type PropertyMode = "required" | "optional" | "defaulted";

function compileObject(def: ZodInternals["def"], json: ReadonlySet<unknown>): Parse {
  const shape = def.shape;
  // strip mode only (strict / passthrough objects have a catchall)
  if (!shape || def.catchall !== undefined || Object.getOwnPropertySymbols(shape).length > 0) return failed;
  const keys = Object.keys(shape);
  if (keys.includes("__proto__")) return failed;
  const modes: PropertyMode[] = [];
  const parsers: Parse[] = [];
  for (const key of keys) {
    const zod = internals(shape[key]);
    if (!zod) return failed;
    if (zod.optin === undefined && zod.optout === undefined) {
      modes.push("required");
      parsers.push(compile(shape[key], json));
    } else if (zod.optin === "optional" && zod.optout === "optional" && zod.def.type === "optional") {
      modes.push("optional");
      parsers.push(compileOptionalInner(zod, json));
    } else if (zod.optin === "defaulted" && zod.optout === undefined && zod.def.type === "default") {
      modes.push("defaulted");
      parsers.push(compile(shape[key], json));
    } else {
      return failed;
    }
  }
  const count = keys.length;
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return FAST_PARSE_FAILED;
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      const mode = modes[i]!;
      if (mode !== "defaulted" && !(key in input)) {
        if (mode === "required") return FAST_PARSE_FAILED;
        continue;
      }
      const parsed = parsers[i]!(input[key]);
      if (parsed === FAST_PARSE_FAILED) return FAST_PARSE_FAILED;
      out[key] = parsed;
    }
    return out;
  };
}

/** The parser of a present value of an optional property (zod: the optional's inner schema; undefined passes). */
function compileOptionalInner(zod: ZodInternals, json: ReadonlySet<unknown>): Parse {
  const inner = internals(zod.def.innerType);
  if (!inner || inner.optin !== undefined) return failed;
  const parse = compile(zod.def.innerType, json);
  return (value) => (value === undefined ? undefined : parse(value));
}

