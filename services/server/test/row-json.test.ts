import { describe, expect, it } from "vitest";
import { jsonRecords, jsonValue } from "../src/event-store/row-json";

const STRINGS = [
  "",
  "plain",
  'quote " inside',
  "back\\slash",
  "new\nline\ttab\r\u0000nul\u001f",
  "unicode é ✓ 日本",
  "pair 😀 ok",
  "lone \ud800 high",
  "lone \udc00 low",
  "</script>",
  "\u2028\u2029",
];
const NUMBERS = [0, -0, 1, -1.5, 0.1, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, 2 ** 64];
const DATES = [new Date("2026-11-29T19:38:36.635Z"), new Date(0), new Date("0001-01-01T00:00:00.000Z"), new Date("9999-12-31T23:59:59.999Z")];
const OTHERS: unknown[] = [null, true, false, [], {}, [1, "a", null], { a: { b: [1, { c: "d\"e" }] } }, { when: new Date(5) }];

describe("jsonRecords (the store's fast JSON for rows and event envelopes)", () => {
  it("writes exactly what JSON.stringify writes for every kind of column value", () => {
    const values = [...STRINGS, ...NUMBERS, ...DATES, ...OTHERS];
    for (const value of values) {
      expect(jsonValue(value), String(value)).toBe(JSON.stringify(value));
      const rows = [{ id: "r1", v: value, at: DATES[0] }, { id: "r2", v: value, at: DATES[0] }];
      expect(jsonRecords(rows, ["id", "v", "at"])).toBe(JSON.stringify(rows));
    }
  });

  it("writes the same instant twice in a row correctly, and a different instant after it", () => {
    const a = new Date("2026-01-01T00:00:00.000Z");
    const rows = [{ x: a, y: new Date(a.getTime()), z: new Date(a.getTime() + 1), w: a }];
    expect(jsonRecords(rows, ["x", "y", "z", "w"])).toBe(JSON.stringify(rows));
  });

  it("writes null where JSON.stringify would drop or null a value (undefined, NaN, Infinity, an invalid date)", () => {
    const rows = [{ a: undefined, b: Number.NaN, c: Number.POSITIVE_INFINITY, d: new Date(Number.NaN) }];
    expect(JSON.parse(jsonRecords(rows, ["a", "b", "c", "d"]))).toEqual([{ a: null, b: null, c: null, d: null }]);
  });

  it("writes the listed keys only, in their order, and null for a key a row lacks", () => {
    const rows = [{ id: "1", name: "x", extra: 1 }, { id: "2" }];
    expect(jsonRecords(rows, ["name", "id"])).toBe('[{"name":"x","id":"1"},{"name":null,"id":"2"}]');
    expect(jsonRecords([], ["id"])).toBe("[]");
    expect(jsonRecords([{}], [])).toBe("[{}]");
  });

  it("quotes key names that need escaping", () => {
    const rows = [{ 'we"ird\\key': 1, "ünï": "x" }];
    expect(jsonRecords(rows, Object.keys(rows[0]!))).toBe(JSON.stringify(rows));
  });

  it("with omitNull, leaves out null and undefined values and writes everything else as JSON.stringify does", () => {
    const values = [...STRINGS, ...NUMBERS, ...DATES, ...OTHERS.filter((v) => v !== null)];
    for (const value of values) {
      const rows = [{ a: null, id: "r1", v: value, u: undefined, at: DATES[0], z: null }];
      const expected = [{ id: "r1", v: value, at: DATES[0] }];
      expect(jsonRecords(rows, ["a", "id", "v", "u", "at", "z"], { omitNull: true }), String(value)).toBe(JSON.stringify(expected));
    }
    expect(jsonRecords([{ a: null, b: undefined }, { a: 1, b: null }, {}], ["a", "b"], { omitNull: true })).toBe('[{},{"a":1},{}]');
    // the two writers of one key list are distinct
    expect(jsonRecords([{ a: null }], ["a"])).toBe('[{"a":null}]');
    expect(jsonRecords([{ a: null }], ["a"], { omitNull: true })).toBe("[{}]");
  });
});
