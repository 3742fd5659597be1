import { z } from "zod";

// EventFilter grammar, as Trigger.dev v2 (`core/src/schemas/eventFilter.ts`). Parsing strips unknown keys
// from content-filter objects, as v2's server did, so what is stored is what v2 would have matched.

const Primitive = z.union([z.string(), z.number(), z.boolean()]);

/**
 * One content filter: an object with one operator. The operators and their meaning are documented on
 * {@link eventFilterMatches}.
 */
export const ContentFilter = z.union([
  z.object({ $endsWith: z.string() }),
  z.object({ $startsWith: z.string() }),
  z.object({ $ignoreCaseEquals: z.string() }),
  z.object({ $exists: z.boolean() }),
  z.object({ $isNull: z.boolean() }),
  z.object({ $anythingBut: Primitive }),
  z.object({ $anythingBut: z.union([z.array(z.string()), z.array(z.number()), z.array(z.boolean())]) }),
  z.object({ $gt: z.number() }),
  z.object({ $lt: z.number() }),
  z.object({ $gte: z.number() }),
  z.object({ $lte: z.number() }),
  z.object({ $between: z.tuple([z.number(), z.number()]) }),
  z.object({ $includes: Primitive }),
  z.object({ $not: Primitive }),
]);
export type ContentFilter = z.infer<typeof ContentFilter>;

/** What a filter key can hold besides a nested filter: a list of allowed values, or a list of content filters. */
export const EventMatcher = z.union([
  z.array(z.string()),
  z.array(z.number()),
  z.array(z.boolean()),
  z.array(ContentFilter),
]);
export type EventMatcher = z.infer<typeof EventMatcher>;

/** A declarative filter on a JSON value: every key must match (AND); values are matchers or nested filters. */
export type EventFilter = { [key: string]: EventMatcher | EventFilter };
export const EventFilter: z.ZodType<EventFilter> = z.lazy(() =>
  z.record(z.string(), z.union([EventMatcher, EventFilter])),
);

/**
 * A trigger rule, as v2's `EventRuleSchema`: which events (`event` name or names, exact and
 * case-sensitive, and `source`) start the job, with optional filters on the event's payload and context.
 */
export const EventRule = z.object({
  event: z.union([z.string(), z.array(z.string())]),
  source: z.string(),
  payload: EventFilter.optional(),
  context: EventFilter.optional(),
});
export type EventRule = z.infer<typeof EventRule>;

/** The parts of an ingested event that a rule is matched against. */
export interface EventRuleSubject {
  readonly name: string;
  readonly source: string;
  readonly payload: unknown;
  readonly context: unknown;
}

type UnknownRecord = Record<string, unknown>;

function isObject(value: unknown): value is UnknownRecord {
  return typeof value === "object" && value !== null;
}

function readKey(value: unknown, key: string): unknown {
  // v2 indexes the value directly (`payload[key]`), so primitives expose their own properties too.
  if (value === null || value === undefined) return undefined;
  return (value as UnknownRecord)[key];
}

/**
 * Whether `payload` matches `filter`, with Trigger.dev v2's exact semantics (`core/src/eventFilterMatches.ts`):
 *
 * 1. A `null`/`undefined` payload matches only a filter with no keys.
 * 2. Every filter key must match (AND); payload keys absent from the filter are ignored.
 * 3. An array value: empty = always matches; all strings, all numbers or all booleans = the payload value
 *    must be one of them (OR, strict equality, no coercion); anything else = a list of content filters
 *    that must all match (AND), non-object elements ignored.
 * 4. A plain-object value is a nested filter: when the payload value is an array, some element must match
 *    it; otherwise the payload value must match it.
 * 5. Each content filter is decided by the first operator present, in this order: `$endsWith`,
 *    `$startsWith`, `$anythingBut`, `$exists`, `$gt`, `$lt`, `$gte`, `$lte`, `$between`, `$includes`,
 *    `$ignoreCaseEquals`, `$isNull`, `$not`; an object with none of them matches.
 *
 * Operators: `$endsWith`/`$startsWith` need a string; `$ignoreCaseEquals` compares strings ignoring case
 * but not accents; `$exists: true` means `!== undefined` (null exists); `$isNull: true` means `=== null`,
 * `false` means `!== null`; `$anythingBut` is "not equal to / not in the list"; `$gt`, `$lt`, `$gte`,
 * `$lte`, `$between` (inclusive) need a number; `$includes` needs an array containing the value; `$not`
 * is "array without the value" or "primitive not equal", and is false for null, undefined and objects.
 *
 * Never throws for any JSON input.
 */
export function eventFilterMatches(payload: unknown, filter: EventFilter): boolean {
  if (payload === undefined || payload === null) {
    return Object.keys(filter).length === 0;
  }

  for (const [key, pattern] of Object.entries(filter) as [string, unknown][]) {
    const value = readKey(payload, key);

    if (Array.isArray(pattern)) {
      const items: readonly unknown[] = pattern;
      if (items.length === 0) continue;
      if (isPrimitiveList(items, "string") || isPrimitiveList(items, "number") || isPrimitiveList(items, "boolean")) {
        if (!items.includes(value)) return false;
        continue;
      }
      if (!contentFiltersMatch(value, items)) return false;
      continue;
    }

    if (isObject(pattern)) {
      const nested = pattern as EventFilter;
      if (Array.isArray(value)) {
        if (!value.some((item) => eventFilterMatches(item, nested))) return false;
      } else if (!eventFilterMatches(value, nested)) {
        return false;
      }
    }
    // A primitive (or null) filter value is not allowed by the schema and is ignored, as in v2.
  }
  return true;
}

function isPrimitiveList(items: readonly unknown[], type: "string" | "number" | "boolean"): boolean {
  return items.every((item) => typeof item === type);
}

function contentFiltersMatch(value: unknown, filters: readonly unknown[]): boolean {
  for (const filter of filters) {
    if (isObject(filter) && !contentFilterMatches(value, filter)) return false;
  }
  return true;
}

function contentFilterMatches(value: unknown, filter: UnknownRecord): boolean {
  if ("$endsWith" in filter) {
    return typeof value === "string" && value.endsWith(String(filter.$endsWith));
  }
  if ("$startsWith" in filter) {
    return typeof value === "string" && value.startsWith(String(filter.$startsWith));
  }
  if ("$anythingBut" in filter) {
    const excluded = filter.$anythingBut;
    if (Array.isArray(excluded)) return !excluded.includes(value);
    return excluded !== value;
  }
  if ("$exists" in filter) {
    return filter.$exists ? value !== undefined : value === undefined;
  }
  if ("$gt" in filter) {
    return typeof value === "number" && value > Number(filter.$gt);
  }
  if ("$lt" in filter) {
    return typeof value === "number" && value < Number(filter.$lt);
  }
  if ("$gte" in filter) {
    return typeof value === "number" && value >= Number(filter.$gte);
  }
  if ("$lte" in filter) {
    return typeof value === "number" && value <= Number(filter.$lte);
  }
  if ("$between" in filter) {
    if (typeof value !== "number" || !Array.isArray(filter.$between)) return false;
    const [low, high] = filter.$between as unknown[];
    return value >= Number(low) && value <= Number(high);
  }
  if ("$includes" in filter) {
    return Array.isArray(value) && value.includes(filter.$includes);
  }
  if ("$ignoreCaseEquals" in filter) {
    return (
      typeof value === "string" &&
      value.localeCompare(String(filter.$ignoreCaseEquals), undefined, { sensitivity: "accent" }) === 0
    );
  }
  if ("$isNull" in filter) {
    return filter.$isNull ? value === null : value !== null;
  }
  if ("$not" in filter) {
    if (Array.isArray(value)) return !value.includes(filter.$not);
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      return value !== filter.$not;
    }
    return false;
  }
  return true;
}

/**
 * Merges filters left to right, as v2's `deepMergeFilters` (`core/src/utils.ts`): a later filter wins per
 * key, two plain objects under the same key merge recursively, arrays (and everything else) replace.
 * `undefined` arguments are skipped. Returns a new object; the inputs are not modified.
 */
export function deepMergeFilters(...filters: ReadonlyArray<EventFilter | undefined>): EventFilter {
  const result: Record<string, EventMatcher | EventFilter> = {};
  for (const filter of filters) {
    if (!filter) continue;
    for (const [key, incoming] of Object.entries(filter)) {
      const existing = result[key];
      if (isPlainFilter(existing) && isPlainFilter(incoming)) {
        result[key] = deepMergeFilters(existing, incoming);
      } else {
        result[key] = incoming;
      }
    }
  }
  return result;
}

function isPlainFilter(value: unknown): value is EventFilter {
  return isObject(value) && !Array.isArray(value);
}

/**
 * Whether an event matches a trigger rule, as v2's event routing (`deliverEvent.server.ts`): the event's
 * name is one of `rule.event`, its source equals `rule.source` exactly, and the record
 * `{payload, context}` matches the filter `{payload: rule.payload, context: rule.context}` with
 * {@link eventFilterMatches} (so an empty or absent payload filter matches any payload).
 */
export function eventRuleMatches(rule: EventRule, event: EventRuleSubject): boolean {
  const names = typeof rule.event === "string" ? [rule.event] : rule.event;
  if (!names.includes(event.name)) return false;
  if (rule.source !== event.source) return false;

  const filter: EventFilter = {};
  if (rule.payload) filter.payload = rule.payload;
  if (rule.context) filter.context = rule.context;
  return eventFilterMatches({ payload: event.payload, context: event.context }, filter);
}
