import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compileFastParser, FAST_PARSE_FAILED } from "../src/fast-parse";
import { Json, RunJobBody, RunJobResponse, SendBulkEventsBody, SendEventBody } from "../src/index";

const fastRunJobBody = compileFastParser(RunJobBody, [Json]);
const fastRunJobResponse = compileFastParser(RunJobResponse, [Json]);

/** A body as the Baton server sends it for a new run (protocol 2). */
const BASE = {
  event: {
    id: "01m8m6y5amsg6x5wnpydt4wmgy",
    name: "bench.one",
    payload: { i: 0, nested: { list: [1, "two", null, true, { deep: [] }] } },
    context: {},
    timestamp: "2026-11-29T17:51:38.324Z",
    deliverAt: "2026-11-29T17:51:38.324Z",
    deliveredAt: "2026-11-29T17:51:38.324Z",
    cancelledAt: null,
  },
  job: { id: "bench-one", version: "1.0.0" },
  run: { id: "run_01m8m6y5as6j0m91tjbr0d89zm", isTest: false, isRetry: false, startedAt: "2026-11-29T17:51:38.324Z" },
  environment: { id: "env_dev", slug: "dev", type: "DEVELOPMENT" },
  organization: { id: "org_baton", slug: "baton", title: "Baton" },
  project: { id: "proj_default", slug: "default", name: "Default project" },
  tasks: [] as unknown[],
  yieldedExecutions: [] as unknown[],
  runChunkExecutionLimit: 59650,
  autoYieldConfig: { startTaskThreshold: 750, beforeExecuteTaskThreshold: 1500, beforeCompleteTaskThreshold: 750, afterCompleteTaskThreshold: 750 },
  batonProtocol: 2,
  noopTaskKeys: [] as unknown[],
  uncachedTaskKeys: [] as unknown[],
};

/** A replay: cached tasks of every shape, yields, keys, a v2-style body without Baton fields, extra keys. */
const VARIANTS: unknown[] = [
  BASE,
  {
    ...BASE,
    tasks: [
      { id: "t1", idempotencyKey: "k1", status: "COMPLETED", noop: false, output: { a: 1, b: [2, { c: "d" }] }, parentId: null },
      { id: "t2", idempotencyKey: "k2", status: "COMPLETED", output: "2026-01-01T00:00:00.000Z", outputMeta: { values: ["Date"] }, parentId: "t1" },
      { id: "t3", idempotencyKey: "k3", status: "COMPLETED", noop: true },
      { id: "t4", idempotencyKey: "k4", status: "COMPLETED", output: null, extra: 1 },
    ],
    yieldedExecutions: ["y1", "y2"],
    noopTaskKeys: ["n1"],
    uncachedTaskKeys: ["u1", "u2"],
  },
  { ...BASE, run: { id: "r", isTest: true, startedAt: 1767225600000 }, batonProtocol: 1, extraTopLevel: { x: 1 } },
  (() => {
    const { batonProtocol: _b, noopTaskKeys: _n, uncachedTaskKeys: _u, project: _p, ...v2 } = BASE;
    return { ...v2, cachedTaskCursor: "c", noopTasksSet: "abc=" };
  })(),
  { ...BASE, account: { id: "acc", metadata: { plan: "pro" } } },
  { ...BASE, source: { id: "s", metadata: {} } },
  { ...BASE, event: { ...BASE.event, context: undefined, deliverAt: undefined, payload: "text" } },
];

/** Values every leaf is replaced with in turn. */
const REPLACEMENTS: unknown[] = [
  undefined, null, 0, -1, 1, 1.5, 2, 3, 1e300, "", "x", "2026-01-01", "not a date", "COMPLETED", "DEVELOPMENT", true, false,
  [], [1], ["a"], {}, { a: 1 }, { __proto__: null }, [{ id: "t", idempotencyKey: "k", status: "COMPLETED" }],
];

/** Every path of `value` (objects and arrays), the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [];
  const out: (string | number)[][] = [];
  for (const key of Object.keys(value)) {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    out.push(path, ...paths((value as Record<string, unknown>)[key], path));
  }
  return out;
}

function withValue(root: unknown, path: (string | number)[], replacement: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let target = copy;
  for (const part of path.slice(0, -1)) target = target[part] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (replacement === undefined && !Array.isArray(target)) delete target[last];
  else target[last] = replacement;
  return copy;
}

/** JSON text with each object's keys in their order, Dates marked: equal texts = equal values, same key order. */
function describeValue(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const raw = key === "" ? value : this[key];
    if (raw instanceof Date) return { $date: Number.isNaN(raw.getTime()) ? "invalid" : raw.toISOString() };
    if (raw === undefined) return "$undefined";
    return v;
  });
}

/** Asserts the fast path is sound on `input` (as JSON.parse gives it); returns whether it took it. */
function check(schema: z.ZodType, fast: (value: unknown) => unknown, input: unknown): boolean {
  const json: unknown = input === undefined ? undefined : JSON.parse(JSON.stringify(input));
  const result = fast(json);
  const zod = schema.safeParse(json);
  if (result === FAST_PARSE_FAILED) return false;
  expect(zod.success, `fast path accepted what zod rejects: ${JSON.stringify(input)}`).toBe(true);
  expect(describeValue(result)).toBe(describeValue(zod.data));
  return true;
}

/** Runs `check` on every input with each leaf of it replaced by each of REPLACEMENTS in turn; counts the fast path's takes. */
function sweep(schema: z.ZodType, fast: (value: unknown) => unknown, inputs: readonly unknown[]): { taken: number; total: number } {
  let taken = 0;
  let total = 0;
  for (const input of inputs) {
    for (const path of paths(input)) {
      for (const replacement of REPLACEMENTS) {
        total++;
        if (check(schema, fast, withValue(input, path, replacement))) taken++;
      }
    }
  }
  return { taken, total };
}

describe("fast RunJobBody parse", () => {
  it("builds what the zod parse builds for the server's bodies (keys, order, defaults, dates)", () => {
    for (const body of VARIANTS) expect(check(RunJobBody, fastRunJobBody, body), JSON.stringify(body)).toBe(true);
  });

  it("never accepts a body the zod parse rejects, and matches it on every body it accepts", () => {
    const { taken, total } = sweep(RunJobBody, fastRunJobBody, VARIANTS);
    expect(total).toBeGreaterThan(5_000);
    expect(taken).toBeGreaterThan(total / 4);
  });

  it("leaves to zod what it does not model: a __proto__ key, non-objects, records, deep JSON", () => {
    const proto = JSON.parse(`{"__proto__": {"x": 1}, "a": 1}`) as unknown;
    expect(fastRunJobBody({ ...BASE, event: { ...BASE.event, payload: proto } })).toBe(FAST_PARSE_FAILED);
    for (const value of [null, "x", 1, [], undefined]) expect(fastRunJobBody(value)).toBe(FAST_PARSE_FAILED);
    // records (connections) are not modelled
    expect(check(RunJobBody, fastRunJobBody, { ...BASE, connections: {} })).toBe(false);
    let deep: unknown = 1;
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(check(RunJobBody, fastRunJobBody, { ...BASE, event: { ...BASE.event, payload: deep } })).toBe(false);
  });

  it("models other zod schemas exactly or leaves them to zod", () => {
    const schemas: z.ZodType[] = [
      z.object({ a: z.string().min(2), b: z.number().int().optional(), c: z.enum(["x", "y"]).default("x") }),
      z.object({ a: z.string() }).strict(),
      z.object({ a: z.union([z.string(), z.number()]), b: z.array(z.string()).min(1).optional() }),
      z.object({ a: z.unknown(), b: z.any().optional(), d: z.coerce.date().nullish(), e: z.boolean().default(true) }),
      z.object({ nested: z.object({ list: z.array(z.object({ k: z.string().nullable() })) }).optional() }),
    ];
    const inputs: unknown[] = [
      {}, { a: "x" }, { a: "xy" }, { a: "xy", b: 1.5 }, { a: "xy", b: 2, c: "y" }, { a: "xy", c: "z" }, { a: 1 }, { a: "x", extra: 1 },
      { a: ["s"], b: [] }, { a: ["s"], b: ["t"] }, { a: null }, { a: 1, d: "2020-01-01" }, { a: 1, d: "nope" }, { a: 1, d: null, e: false },
      { nested: { list: [{ k: null }, { k: "v", z: 1 }] } }, { nested: { list: [{}] } }, { nested: null }, [], null, "x",
    ];
    for (const schema of schemas) {
      const fast = compileFastParser(schema, [Json]);
      for (const input of inputs) check(schema, fast, input);
    }
  });
});

/** Answers as the SDK sends them: a one-task run's SUCCESS with its reports, and the other statuses. */
const STARTED = {
  id: "task_01m8mkdq4nv8m03gvpkwbjfkpj",
  idempotencyKey: "8ac5043409b182064cbb2af8bb3117331fc84ac57b188ff5f6bd19d9cba16577",
  parentId: null,
  displayKey: "t",
  name: "Task",
  style: { style: "normal" },
  noop: false,
  startedAt: "2026-11-29T21:29:50.997Z",
};
const COMPLETED = { id: STARTED.id, output: "1", completedAt: "2026-11-29T21:29:50.998Z" };
const ANSWERS: unknown[] = [
  { status: "SUCCESS", output: 1, startedTasks: [STARTED], completedTasks: [COMPLETED] },
  { status: "SUCCESS" },
  { status: "SUCCESS", output: { a: [1, "b", null] }, startedTasks: [{ ...STARTED, params: { x: 1 }, parallel: true, icon: "i" }], extra: 1 },
  { status: "ERROR", error: { message: "boom", name: "Error", stack: "at x" }, completedTasks: [{ ...COMPLETED, outputMeta: { values: ["Date"] } }] },
  { status: "YIELD_EXECUTION", key: "y", startedTasks: [STARTED] },
  { status: "INVALID_PAYLOAD", errors: [{ path: ["a"], message: "bad" }] },
  { status: "NO_SUCH_STATUS" },
];

describe("fast RunJobResponse parse (a discriminated union of literals)", () => {
  it("takes a one-task run's SUCCESS with its reports, as zod parses it", () => {
    expect(check(RunJobResponse, fastRunJobResponse, ANSWERS[0])).toBe(true);
    expect(check(RunJobResponse, fastRunJobResponse, ANSWERS[1])).toBe(true);
  });

  it("never accepts an answer the zod parse rejects, and matches it on every answer it accepts", () => {
    for (const answer of ANSWERS) check(RunJobResponse, fastRunJobResponse, answer);
    const { taken, total } = sweep(RunJobResponse, fastRunJobResponse, ANSWERS);
    expect(total).toBeGreaterThan(1_500);
    expect(taken).toBeGreaterThan(total / 5);
  });

  it("leaves an unknown status, a missing one and non-objects to zod", () => {
    for (const value of [{ status: "NO_SUCH_STATUS" }, {}, { status: 1 }, null, [], "SUCCESS"]) expect(fastRunJobResponse(value)).toBe(FAST_PARSE_FAILED);
  });

  it("models literals and discriminated unions of other schemas exactly, and leaves plain unions to zod", () => {
    const schemas: z.ZodType[] = [
      z.object({ a: z.literal("x"), b: z.literal(2).optional() }),
      z.discriminatedUnion("kind", [z.object({ kind: z.literal("a"), n: z.number() }), z.object({ kind: z.literal(["b", "c"]), s: z.string().default("d") })]),
      z.union([z.object({ kind: z.literal("a") }), z.object({ kind: z.literal("b") })]),
    ];
    const inputs: unknown[] = [
      { a: "x" }, { a: "y" }, { a: "x", b: 2 }, { a: "x", b: 3 }, { kind: "a", n: 1 }, { kind: "a", n: "1" }, { kind: "b" }, { kind: "c", s: "e", z: 1 },
      { kind: "z" }, {}, null, [],
    ];
    for (const schema of schemas) {
      const fast = compileFastParser(schema, [Json]);
      for (const input of inputs) check(schema, fast, input);
    }
    // a plain union is not modelled
    expect(compileFastParser(schemas[2]!)({ kind: "a" })).toBe(FAST_PARSE_FAILED);
  });
});

describe("fast SendEventBody / SendBulkEventsBody parse (the event routes)", () => {
  const EVENTS: unknown[] = [
    { event: { name: "new.user", payload: { userId: "u1" } } },
    { event: { name: "e", payload: [1, { a: null }], context: { x: 1 }, id: "ev-1", timestamp: "2026-01-01T00:00:00.000Z", source: "app", payloadType: "JSON" }, options: { deliverAfter: 30, accountId: "acc" } },
    { event: { name: "e" }, options: { deliverAt: 1767225600000 }, extra: true },
  ];

  it("never accepts a body the zod parse rejects, and matches it on every body it accepts", () => {
    const fast = compileFastParser(SendEventBody, [Json]);
    expect(check(SendEventBody, fast, EVENTS[0])).toBe(true);
    const { taken, total } = sweep(SendEventBody, fast, EVENTS);
    expect(total).toBeGreaterThan(500);
    expect(taken).toBeGreaterThan(total / 5);
  });

  it("parses a bulk as zod does", () => {
    const fast = compileFastParser(SendBulkEventsBody, [Json]);
    const bulk = { events: EVENTS.map((e) => (e as { event: unknown }).event), options: { deliverAfter: 0 } };
    expect(check(SendBulkEventsBody, fast, bulk)).toBe(true);
    sweep(SendBulkEventsBody, fast, [bulk]);
  });
});

