import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "charge-twice", async (_p, io) => {
      await io.runTask("charge", async () => {
        hits.hit("charge#1");
        return { charged: 1 };
      });
      await io.runTask("charge", async () => {
        hits.hit("charge#2");
        return { charged: 2 };
      });
      return "unreachable";
    });
    defineTestJob(client, "charge-under-two-parents", async (_p, io) => {
      const a = await io.runTask("order-a", async (_t, sub) =>
        sub.runTask("charge", async () => {
          hits.hit("a/charge");
          return "a";
        }),
      );
      const b = await io.runTask("order-b", async (_t, sub) =>
        sub.runTask("charge", async () => {
          hits.hit("b/charge");
          return "b";
        }),
      );
      return [a, b];
    });
  });
});
afterAll(async () => e2e?.close());

describe("task keys", () => {
  it("a key used twice in a row fails the run with an error naming the key; the second body never runs", async () => {
    const runId = await startRun(e2e, "charge-twice");
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("FAILURE");
    expect(run.error.message).toContain('"charge"');
    expect(run.error.message).toMatch(/already used/);
    expect(hits.of("charge#1")).toBe(1);
    expect(hits.of("charge#2")).toBe(0);
    // only the first "charge" exists on the server, and it completed
    const tasks = flattenTasks(run.tasks);
    expect(tasks.map((t) => [t.displayKey, t.status])).toEqual([["charge", "COMPLETED"]]);
  });

  it("the same key under two different parent tasks is fine", async () => {
    const runId = await startRun(e2e, "charge-under-two-parents");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual(["a", "b"]);
    expect(hits.of("a/charge")).toBe(1);
    expect(hits.of("b/charge")).toBe(1);
    expect(run.tasks.map((t: any) => [t.displayKey, t.subtasks.map((s: any) => s.displayKey)])).toEqual([
      ["order-a", ["charge"]],
      ["order-b", ["charge"]],
    ]);
  });
});
