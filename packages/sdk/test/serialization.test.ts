import { describe, expect, it } from "vitest";
import { BatonError, deserializeOutput, serializeOutput } from "../src/index";
import superjson from "superjson";
import { findUnserializable, toRunOutputJson } from "../src/serialization";

function roundTrip(value: unknown): unknown {
  const s = serializeOutput("k", value);
  // What the server stores: the parsed JSON of `output`, plus `outputMeta`.
  const stored = s.output === undefined ? null : (JSON.parse(s.output) as unknown);
  return deserializeOutput(stored, JSON.parse(JSON.stringify(s.outputMeta ?? null)) ?? undefined);
}

describe("task output serialization", () => {
  it.each([
    ["Date", new Date("2026-03-04T05:06:07.089Z")],
    ["BigInt", 12345678901234567890n],
    ["Map", new Map<unknown, unknown>([["a", 1], [2, new Date(0)]])],
    ["Set", new Set([1, "two", 3n])],
    ["undefined", undefined],
    ["null", null],
    ["empty string", ""],
    ["nested", { at: new Date(1), list: [undefined, null, ""], deep: { n: NaN, inf: -Infinity } }],
  ])("round-trips %s with its type", (_name, value) => {
    const replayed = roundTrip(value);
    expect(replayed).toEqual(value);
    const first = serializeOutput("k", value).value;
    expect(first).toEqual(value);
    if (value instanceof Date) {
      expect(replayed).toBeInstanceOf(Date);
      expect(first).toBeInstanceOf(Date);
    }
    if (value === undefined) expect(replayed).toBeUndefined();
    if (value === null) expect(replayed).toBeNull();
    if (value === "") expect(replayed).toBe("");
  });

  it("keeps a Date a Date inside objects on first execution and replay", () => {
    const s = serializeOutput("k", { at: new Date(5) });
    expect((s.value as { at: unknown }).at).toBeInstanceOf(Date);
    expect((roundTrip({ at: new Date(5) }) as { at: unknown }).at).toBeInstanceOf(Date);
  });

  it("fails a cycle naming the key and the path, not retryable", () => {
    const a: Record<string, unknown> = { name: "a", child: { list: [] as unknown[] } };
    ((a["child"] as { list: unknown[] }).list).push(a);
    let error: unknown;
    try {
      serializeOutput("load-user", a);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("TASK_OUTPUT_UNSERIALIZABLE");
    expect((error as BatonError).retryable).toBe(false);
    expect((error as Error).message).toContain('"load-user"');
    expect((error as Error).message).toContain("cycle");
    expect((error as Error).message).toContain("output.child.list[0]");
  });

  it("fails a function naming the key, the type and the path", () => {
    expect(() => serializeOutput("make-client", { client: { send: function send() {} } })).toThrow(
      /"make-client".*function send at output\.client\.send/,
    );
  });

  it("fails a symbol and a class instance naming the type", () => {
    expect(() => serializeOutput("s", { s: Symbol("x") })).toThrow(/symbol at output\.s/);
    class Connection {
      open = true;
    }
    expect(() => serializeOutput("c", [new Connection()])).toThrow(/class instance Connection at output\[0\]/);
  });

  it("allows shared (non-cyclic) references", () => {
    const shared = { x: 1 };
    expect(roundTrip({ a: shared, b: shared })).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it("rejects outputs over the limit, naming the limit", () => {
    expect(() => serializeOutput("big", "x".repeat(3 * 1024 * 1024 + 1))).toThrow(/over the limit of 3145728 bytes \(3 MiB\)/);
    expect(() => serializeOutput("small", "x".repeat(20), 10)).toThrow(/"small".*limit of 10 bytes/);
  });
});

describe("run output JSON", () => {
  it("leaves out undefined object properties, as JSON does, instead of turning them into null", () => {
    const output = toRunOutputJson({ u: undefined, n: null, s: "", nested: { u: undefined, x: 1 }, list: [{ u: undefined }, undefined] });
    expect(JSON.stringify(output)).toBe('{"n":null,"s":"","nested":{"x":1},"list":[{},null]}');
  });
});

describe("plain JSON fast path", () => {
  const deep = (() => {
    let v: unknown = { leaf: true };
    for (let i = 0; i < 100; i++) v = { v };
    return v;
  })();
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic["self"] = cyclic;
  const values: unknown[] = [
    0, -0, 1.5, 1e300, NaN, Infinity, -Infinity, "", "text", "\ud800 lone surrogate", true, false, null, undefined,
    [], {}, [1, "a", null, [true]], Object.assign([1], { 2: 3 }), [undefined], { a: 1, b: [1, 2, { c: "d" }], e: null }, { "2": 1, a: 1, "1": 2 },
    { u: undefined }, { d: new Date(0) }, Object.create(null) as unknown, { f: () => 1 }, { big: 1n }, { m: new Map([[1, 2]]) },
    { constructor: 1 }, JSON.parse('{"__proto__": 1}') as unknown, { [Symbol("s")]: 1 }, deep, cyclic, { nan: NaN }, [-0],
  ];

  it("serializes every value exactly as the superjson path (same output, meta, value, size, or the same error)", () => {
    const reference = (value: unknown) => {
      const bad = findUnserializable(value);
      if (bad) return { error: `${bad.type} at ${bad.path}` };
      try {
        const { json, meta } = superjson.serialize(value);
        const output = value === undefined ? undefined : JSON.stringify(json);
        return { output, meta, value: deserializeOutput(output === undefined ? undefined : JSON.parse(output), meta) };
      } catch (error) {
        return { error: error instanceof Error ? error.message : String(error) };
      }
    };
    for (const value of values) {
      const expected = reference(value);
      let actual: unknown;
      try {
        const s = serializeOutput("k", value);
        actual = { output: s.output, meta: s.outputMeta, value: s.value };
        expect(s.bytes).toBe(Buffer.byteLength(s.output ?? "") + Buffer.byteLength(s.outputMeta === undefined ? "" : JSON.stringify(s.outputMeta)));
      } catch (error) {
        expect("error" in expected, `${String(error)} for a value the reference serializes`).toBe(true);
        expect(String(error)).toContain((expected as { error: string }).error);
        actual = expected;
      }
      expect(actual).toStrictEqual(expected);
      if (typeof value === "object" && value !== null && "value" in expected && expected.value !== undefined) {
        expect((actual as { value: unknown }).value).not.toBe(value);
      }
    }
  });

  it("gives the run output JSON of the superjson path", () => {
    for (const value of values) {
      if (findUnserializable(value)) continue;
      let expected: unknown;
      try {
        expected = JSON.stringify(value === undefined ? undefined : superjson.serialize(value).json);
      } catch {
        expect(() => toRunOutputJson(value)).toThrow();
        continue;
      }
      const output = toRunOutputJson(value);
      if (typeof value === "object" && value !== null) expect(output).not.toBe(value);
      // (undefined properties are dropped: compared where there are none)
      if (!JSON.stringify(expected)?.includes("null")) expect(JSON.stringify(output)).toBe(expected);
    }
  });
});
