import { describe, expect, it } from "vitest";
import { deepMergeFilters, EventFilter, eventFilterMatches, eventRuleMatches, type EventRule } from "../src/index";

describe("eventFilterMatches: structure", () => {
  it("a null or undefined payload matches only an empty filter", () => {
    expect(eventFilterMatches(null, {})).toBe(true);
    expect(eventFilterMatches(undefined, {})).toBe(true);
    expect(eventFilterMatches(null, { a: ["x"] })).toBe(false);
    expect(eventFilterMatches(undefined, { a: [{ $exists: false }] })).toBe(false);
  });

  it("an empty filter matches any payload", () => {
    expect(eventFilterMatches({ a: 1 }, {})).toBe(true);
  });

  it("every key of the filter must match (AND), extra payload keys are ignored", () => {
    const filter = { a: ["x"], b: [1] };
    expect(eventFilterMatches({ a: "x", b: 1, c: "ignored" }, filter)).toBe(true);
    expect(eventFilterMatches({ a: "x", b: 2 }, filter)).toBe(false);
  });

  it("an empty array passes whatever the value, even a missing key", () => {
    expect(eventFilterMatches({}, { a: [] })).toBe(true);
    expect(eventFilterMatches({ a: 5 }, { a: [] })).toBe(true);
  });

  it("a list of strings is an OR of allowed values", () => {
    expect(eventFilterMatches({ plan: "team" }, { plan: ["pro", "team"] })).toBe(true);
    expect(eventFilterMatches({ plan: "free" }, { plan: ["pro", "team"] })).toBe(false);
  });

  it("a list of numbers uses strict equality: the string '1' does not match 1", () => {
    expect(eventFilterMatches({ n: 1 }, { n: [1, 2] })).toBe(true);
    expect(eventFilterMatches({ n: "1" }, { n: [1, 2] })).toBe(false);
  });

  it("a list of booleans matches only booleans", () => {
    expect(eventFilterMatches({ ok: true }, { ok: [true] })).toBe(true);
    expect(eventFilterMatches({ ok: "true" }, { ok: [true] })).toBe(false);
    expect(eventFilterMatches({ ok: 1 }, { ok: [true] })).toBe(false);
  });

  it("an array-valued payload field never matches a primitive list", () => {
    expect(eventFilterMatches({ tags: ["a"] }, { tags: ["a"] })).toBe(false);
  });

  it("a list of content filters must all match (AND)", () => {
    const filter = { age: [{ $gt: 20 }, { $lt: 40 }] };
    expect(eventFilterMatches({ age: 30 }, filter)).toBe(true);
    expect(eventFilterMatches({ age: 50 }, filter)).toBe(false);
    expect(eventFilterMatches({ age: 10 }, filter)).toBe(false);
  });

  it("a mixed array is a content-filter list whose non-object elements are ignored", () => {
    const filter = { age: ["ignored", { $gt: 20 }] } as unknown as EventFilter;
    expect(eventFilterMatches({ age: 30 }, filter)).toBe(true);
    expect(eventFilterMatches({ age: "ignored" }, filter)).toBe(false);
  });

  it("a nested object filter recurses into the payload value", () => {
    const filter = { user: { address: { country: ["FR"] } } };
    expect(eventFilterMatches({ user: { address: { country: "FR" } } }, filter)).toBe(true);
    expect(eventFilterMatches({ user: { address: { country: "DE" } } }, filter)).toBe(false);
    expect(eventFilterMatches({ user: {} }, filter)).toBe(false);
  });

  it("a nested filter on a missing object fails unless it is empty", () => {
    expect(eventFilterMatches({}, { user: { name: ["a"] } })).toBe(false);
    expect(eventFilterMatches({}, { user: {} })).toBe(true);
  });

  it("a nested filter on an array of objects matches if some element matches", () => {
    const filter = { items: { sku: ["B"] } };
    expect(eventFilterMatches({ items: [{ sku: "A" }, { sku: "B" }] }, filter)).toBe(true);
    expect(eventFilterMatches({ items: [{ sku: "A" }] }, filter)).toBe(false);
    expect(eventFilterMatches({ items: [] }, filter)).toBe(false);
  });

  it("the first operator in v2's order decides; later operators in the same object are ignored", () => {
    // $startsWith comes before $gt in v2's order, whatever the key order in the object.
    const filter = { v: [{ $gt: 100, $startsWith: "a" }] } as unknown as EventFilter;
    expect(eventFilterMatches({ v: "abc" }, filter)).toBe(true);
    // $anythingBut is checked before $exists.
    const second = { v: [{ $exists: false, $anythingBut: "x" }] } as unknown as EventFilter;
    expect(eventFilterMatches({ v: "y" }, second)).toBe(true);
  });

  it("an object with no known operator matches", () => {
    expect(eventFilterMatches({ v: 1 }, { v: [{ $unknown: 1 }] } as unknown as EventFilter)).toBe(true);
  });
});

describe("eventFilterMatches: operators", () => {
  it("$endsWith matches the end of a string and fails on non-strings", () => {
    expect(eventFilterMatches({ e: "a@acme.com" }, { e: [{ $endsWith: "@acme.com" }] })).toBe(true);
    expect(eventFilterMatches({ e: "a@other.com" }, { e: [{ $endsWith: "@acme.com" }] })).toBe(false);
    expect(eventFilterMatches({ e: 5 }, { e: [{ $endsWith: "5" }] })).toBe(false);
  });

  it("$startsWith matches the start of a string and fails on non-strings", () => {
    expect(eventFilterMatches({ s: "order.created" }, { s: [{ $startsWith: "order." }] })).toBe(true);
    expect(eventFilterMatches({ s: "user.created" }, { s: [{ $startsWith: "order." }] })).toBe(false);
    expect(eventFilterMatches({ s: null }, { s: [{ $startsWith: "" }] })).toBe(false);
  });

  it("$ignoreCaseEquals ignores case but not accents", () => {
    expect(eventFilterMatches({ c: "fr" }, { c: [{ $ignoreCaseEquals: "FR" }] })).toBe(true);
    expect(eventFilterMatches({ c: "résumé" }, { c: [{ $ignoreCaseEquals: "RÉSUMÉ" }] })).toBe(true);
    expect(eventFilterMatches({ c: "resume" }, { c: [{ $ignoreCaseEquals: "résumé" }] })).toBe(false);
    expect(eventFilterMatches({ c: 1 }, { c: [{ $ignoreCaseEquals: "1" }] })).toBe(false);
  });

  it("$exists: true means not undefined, so null exists", () => {
    expect(eventFilterMatches({ a: null }, { a: [{ $exists: true }] })).toBe(true);
    expect(eventFilterMatches({ a: 0 }, { a: [{ $exists: true }] })).toBe(true);
    expect(eventFilterMatches({}, { a: [{ $exists: true }] })).toBe(false);
  });

  it("$exists: false means undefined", () => {
    expect(eventFilterMatches({}, { a: [{ $exists: false }] })).toBe(true);
    expect(eventFilterMatches({ a: null }, { a: [{ $exists: false }] })).toBe(false);
  });

  it("$isNull: true means exactly null", () => {
    expect(eventFilterMatches({ a: null }, { a: [{ $isNull: true }] })).toBe(true);
    expect(eventFilterMatches({}, { a: [{ $isNull: true }] })).toBe(false);
  });

  it("$isNull: false means not null, so a missing key passes", () => {
    expect(eventFilterMatches({}, { a: [{ $isNull: false }] })).toBe(true);
    expect(eventFilterMatches({ a: 1 }, { a: [{ $isNull: false }] })).toBe(true);
    expect(eventFilterMatches({ a: null }, { a: [{ $isNull: false }] })).toBe(false);
  });

  it("$anythingBut with a scalar rejects only that value; a missing field passes", () => {
    expect(eventFilterMatches({ s: "ok" }, { s: [{ $anythingBut: "spam" }] })).toBe(true);
    expect(eventFilterMatches({ s: "spam" }, { s: [{ $anythingBut: "spam" }] })).toBe(false);
    expect(eventFilterMatches({}, { s: [{ $anythingBut: "spam" }] })).toBe(true);
    expect(eventFilterMatches({ n: "1" }, { n: [{ $anythingBut: 1 }] })).toBe(true);
  });

  it("$anythingBut with a list rejects every listed value", () => {
    const filter = { s: [{ $anythingBut: ["a", "b"] }] };
    expect(eventFilterMatches({ s: "c" }, filter)).toBe(true);
    expect(eventFilterMatches({ s: "b" }, filter)).toBe(false);
  });

  it("$gt is strictly greater and needs a number (numeric strings fail)", () => {
    expect(eventFilterMatches({ n: 11 }, { n: [{ $gt: 10 }] })).toBe(true);
    expect(eventFilterMatches({ n: 10 }, { n: [{ $gt: 10 }] })).toBe(false);
    expect(eventFilterMatches({ n: "11" }, { n: [{ $gt: 10 }] })).toBe(false);
  });

  it("$lt is strictly less and needs a number", () => {
    expect(eventFilterMatches({ n: 9 }, { n: [{ $lt: 10 }] })).toBe(true);
    expect(eventFilterMatches({ n: 10 }, { n: [{ $lt: 10 }] })).toBe(false);
    expect(eventFilterMatches({ n: null }, { n: [{ $lt: 10 }] })).toBe(false);
  });

  it("$gte includes the bound", () => {
    expect(eventFilterMatches({ n: 10 }, { n: [{ $gte: 10 }] })).toBe(true);
    expect(eventFilterMatches({ n: 9.99 }, { n: [{ $gte: 10 }] })).toBe(false);
  });

  it("$lte includes the bound", () => {
    expect(eventFilterMatches({ n: 10 }, { n: [{ $lte: 10 }] })).toBe(true);
    expect(eventFilterMatches({ n: 10.01 }, { n: [{ $lte: 10 }] })).toBe(false);
  });

  it("$between is inclusive at both ends and needs a number", () => {
    const filter = { n: [{ $between: [1, 5] as [number, number] }] };
    expect(eventFilterMatches({ n: 1 }, filter)).toBe(true);
    expect(eventFilterMatches({ n: 5 }, filter)).toBe(true);
    expect(eventFilterMatches({ n: 6 }, filter)).toBe(false);
    expect(eventFilterMatches({ n: "3" }, filter)).toBe(false);
  });

  it("$includes needs an array value that contains the argument", () => {
    expect(eventFilterMatches({ tags: ["a", "b"] }, { tags: [{ $includes: "b" }] })).toBe(true);
    expect(eventFilterMatches({ tags: ["a"] }, { tags: [{ $includes: "b" }] })).toBe(false);
    expect(eventFilterMatches({ tags: "b" }, { tags: [{ $includes: "b" }] })).toBe(false);
  });

  it("$not on an array means the array does not contain the argument", () => {
    expect(eventFilterMatches({ tags: ["a"] }, { tags: [{ $not: "b" }] })).toBe(true);
    expect(eventFilterMatches({ tags: ["b"] }, { tags: [{ $not: "b" }] })).toBe(false);
  });

  it("$not on a primitive means strictly not equal", () => {
    expect(eventFilterMatches({ s: "a" }, { s: [{ $not: "b" }] })).toBe(true);
    expect(eventFilterMatches({ s: "b" }, { s: [{ $not: "b" }] })).toBe(false);
    expect(eventFilterMatches({ n: 1 }, { n: [{ $not: "1" }] })).toBe(true);
    expect(eventFilterMatches({ b: false }, { b: [{ $not: true }] })).toBe(true);
  });

  it("$not on null, undefined or an object is false", () => {
    expect(eventFilterMatches({ s: null }, { s: [{ $not: "b" }] })).toBe(false);
    expect(eventFilterMatches({}, { s: [{ $not: "b" }] })).toBe(false);
    expect(eventFilterMatches({ s: { x: 1 } }, { s: [{ $not: "b" }] })).toBe(false);
  });
});

describe("EventFilter schema", () => {
  it("accepts the v2 grammar: value lists, content filters and nested filters", () => {
    const filter = {
      plan: ["pro"],
      n: [1, 2],
      ok: [true],
      age: [{ $gte: 18 }, { $lt: 65 }],
      range: [{ $between: [1, 2] }],
      user: { email: [{ $endsWith: "@acme.com" }], tags: [{ $includes: "vip" }] },
    };
    expect(EventFilter.parse(filter)).toEqual(filter);
  });

  it("rejects a primitive filter value and an unknown operator", () => {
    expect(EventFilter.safeParse({ a: "x" }).success).toBe(false);
    expect(EventFilter.safeParse({ a: [{ $regex: "x" }] }).success).toBe(false);
  });
});

describe("deepMergeFilters", () => {
  it("a later filter wins for the same key", () => {
    expect(deepMergeFilters({ a: ["x"] }, { a: ["y"] })).toEqual({ a: ["y"] });
  });

  it("plain objects under the same key merge recursively", () => {
    expect(deepMergeFilters({ user: { a: ["1"], b: ["2"] } }, { user: { b: ["3"], c: ["4"] } })).toEqual({
      user: { a: ["1"], b: ["3"], c: ["4"] },
    });
  });

  it("arrays replace instead of concatenating", () => {
    expect(deepMergeFilters({ tags: ["a", "b"] }, { tags: ["c"] })).toEqual({ tags: ["c"] });
  });

  it("an object replaces an array and an array replaces an object", () => {
    expect(deepMergeFilters({ a: ["x"] }, { a: { b: ["y"] } })).toEqual({ a: { b: ["y"] } });
    expect(deepMergeFilters({ a: { b: ["y"] } }, { a: ["x"] })).toEqual({ a: ["x"] });
  });

  it("skips undefined filters, keeps keys from all and does not modify the inputs", () => {
    const first = { user: { a: ["1"] } };
    const merged = deepMergeFilters(first, undefined, { other: [1] }, { user: { b: ["2"] } });
    expect(merged).toEqual({ user: { a: ["1"], b: ["2"] }, other: [1] });
    expect(first).toEqual({ user: { a: ["1"] } });
    expect(deepMergeFilters()).toEqual({});
  });
});

describe("eventRuleMatches", () => {
  const rule: EventRule = { event: "new.user", source: "trigger.dev", payload: { plan: ["pro"] } };
  const subject = { name: "new.user", source: "trigger.dev", payload: { plan: "pro" }, context: {} };

  it("matches the name, the source and the payload filter", () => {
    expect(eventRuleMatches(rule, subject)).toBe(true);
  });

  it("event names are exact and case-sensitive; a list of names is an OR", () => {
    expect(eventRuleMatches(rule, { ...subject, name: "New.User" })).toBe(false);
    expect(eventRuleMatches({ ...rule, event: ["a", "new.user"] }, subject)).toBe(true);
  });

  it("the source must be equal", () => {
    expect(eventRuleMatches(rule, { ...subject, source: "stripe" })).toBe(false);
  });

  it("a failing payload filter or context filter rejects the event", () => {
    expect(eventRuleMatches(rule, { ...subject, payload: { plan: "free" } })).toBe(false);
    const withContext: EventRule = { ...rule, context: { region: ["eu"] } };
    expect(eventRuleMatches(withContext, { ...subject, context: { region: "eu" } })).toBe(true);
    expect(eventRuleMatches(withContext, { ...subject, context: { region: "us" } })).toBe(false);
  });

  it("an empty or absent payload filter matches any payload, even none", () => {
    const open: EventRule = { event: "e", source: "trigger.dev", payload: {} };
    expect(eventRuleMatches(open, { name: "e", source: "trigger.dev", payload: null, context: undefined })).toBe(true);
    expect(eventRuleMatches({ event: "e", source: "trigger.dev" }, { name: "e", source: "trigger.dev", payload: 1, context: null })).toBe(true);
  });

  it("a payload filter applied to an array payload matches when some element matches", () => {
    const arrayRule: EventRule = { event: "e", source: "s", payload: { id: ["2"] } };
    expect(eventRuleMatches(arrayRule, { name: "e", source: "s", payload: [{ id: "1" }, { id: "2" }], context: {} })).toBe(true);
  });
});
