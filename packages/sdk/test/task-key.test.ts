import { describe, expect, it } from "vitest";
import { displayKey, stableStringify, taskIdempotencyKey } from "../src/index";

describe("task idempotency keys", () => {
  it("are the same for the same run, parent and key (stable across replays)", () => {
    expect(taskIdempotencyKey("run_1", undefined, "charge")).toBe(taskIdempotencyKey("run_1", undefined, "charge"));
    expect(taskIdempotencyKey("run_1", "task_9", ["a", 1, { x: 1 }])).toBe(taskIdempotencyKey("run_1", "task_9", ["a", 1, { x: 1 }]));
  });

  it("are sha256 hex of runId:parentId:key parts", async () => {
    const { createHash } = await import("node:crypto");
    expect(taskIdempotencyKey("run_1", undefined, "charge")).toBe(createHash("sha256").update("run_1::charge").digest("hex"));
    expect(taskIdempotencyKey("run_1", "task_2", ["a", 3])).toBe(createHash("sha256").update("run_1:task_2:a:3").digest("hex"));
  });

  it("are scoped to the run and the parent task", () => {
    const base = taskIdempotencyKey("run_1", undefined, "charge");
    expect(taskIdempotencyKey("run_2", undefined, "charge")).not.toBe(base);
    expect(taskIdempotencyKey("run_1", "task_1", "charge")).not.toBe(base);
    expect(taskIdempotencyKey("run_1", "task_1", "charge")).not.toBe(taskIdempotencyKey("run_1", "task_2", "charge"));
  });

  it("do not depend on object key order, and flatten nested arrays", () => {
    expect(taskIdempotencyKey("r", undefined, [{ a: 1, b: 2 }])).toBe(taskIdempotencyKey("r", undefined, [{ b: 2, a: 1 }]));
    expect(taskIdempotencyKey("r", undefined, ["a", ["b", ["c"]]])).toBe(taskIdempotencyKey("r", undefined, ["a", "b", "c"]));
    expect(stableStringify({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });

  it("display keys join parts with ':'", () => {
    expect(displayKey("charge")).toBe("charge");
    expect(displayKey(["item", 3])).toBe("item:3");
  });
});
