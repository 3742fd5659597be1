/** Plain JSON trees: values whose JSON text is `JSON.stringify(value)` and parses back equal. */

/** What {@link isPlainJsonTree} accepts beyond null, booleans, strings, finite numbers, dense arrays, plain objects. */
export interface PlainJsonRules {
  /** deepest nesting walked (a deeper value, or a cycle, is not plain) */
  readonly maxDepth: number;
  /** -0 is not plain (superjson gives it meta) */
  readonly refuseNegativeZero: boolean;
  /** keys that make an object not plain (e.g. `__proto__`) */
  readonly refusedKeys: ReadonlySet<string>;
}

/**
 * True for a tree of null, booleans, strings, finite numbers, dense arrays and plain objects (own string keys only,
 * no symbol keys), within `rules`: a value whose JSON text is `JSON.stringify(value)` and parses back equal.
 */
export function isPlainJsonTree(value: unknown, rules: PlainJsonRules, depth = 0): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !(rules.refuseNegativeZero && Object.is(value, -0));
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= rules.maxDepth) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJsonTree(value[i], rules, depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype || Object.getOwnPropertySymbols(value).length > 0) return false;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key) || rules.refusedKeys.has(key)) return false;
    if (!isPlainJsonTree((value as Record<string, unknown>)[key], rules, depth + 1)) return false;
  }
  return true;
}
