import { decodeTime, isValid } from "ulid";
import { describe, expect, it } from "vitest";
import { newId } from "../src/ids";

describe("ids", () => {
  it("are valid ULIDs with a prefix, carrying the creation time", () => {
    const before = Date.now();
    const id = newId("run");
    expect(id).toMatch(/^run_[0-9a-hjkmnp-tv-z]{26}$/);
    const ulid = id.slice(4).toUpperCase();
    expect(isValid(ulid)).toBe(true);
    expect(decodeTime(ulid)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(ulid)).toBeLessThanOrEqual(Date.now());
  });

  it("increase strictly within one process, also within one millisecond, and never repeat", () => {
    const ids = Array.from({ length: 20_000 }, () => newId("task"));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
