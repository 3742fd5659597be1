import { describe, expect, it } from "vitest";
import { BoundedMemo } from "../src/bounded-memo";

describe("BoundedMemo", () => {
  it("computes each key once while it is remembered, null values included, and starts over past its bound", () => {
    const calls: string[] = [];
    const memo = new BoundedMemo((key: string) => {
      calls.push(key);
      return key === "bad" ? null : key.toUpperCase();
    }, 2);
    expect([memo.get("a"), memo.get("a"), memo.get("bad"), memo.get("bad")]).toEqual(["A", "A", null, null]);
    expect(calls).toEqual(["a", "bad"]);
    // a third key clears the two remembered ones: "a" is computed again
    expect([memo.get("c"), memo.get("a")]).toEqual(["C", "A"]);
    expect(calls).toEqual(["a", "bad", "c", "a"]);
  });
});
