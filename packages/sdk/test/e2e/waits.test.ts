import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const TWO_YEARS = 2 * 365 * 24 * 60 * 60;
const SECONDS: Record<string, number> = { zero: 0, negative: -5, nan: Number.NaN, infinity: Number.POSITIVE_INFINITY, "two-years": TWO_YEARS };

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "waits", async (payload, io) => {
      const variant = payload.variant as string;
      hits.hit(`execution:${variant}`);
      await io.runTask("before", async () => {
        hits.hit(`before:${variant}`);
        return "before";
      });
      await io.wait(`wait-${variant}`, SECONDS[variant]!);
      return io.runTask("after", async () => {
        hits.hit(`after:${variant}`);
        return "after";
      });
    });
  });
});
afterAll(async () => e2e?.close());

describe("io.wait", () => {
  it("0 seconds returns at once: the run never suspends and succeeds in one execution", async () => {
    const runId = await startRun(e2e, "waits", { variant: "zero" });
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toBe("after");
    expect([hits.of("execution:zero"), hits.of("before:zero"), hits.of("after:zero")]).toEqual([1, 1, 1]);
    expect(flattenTasks(run.tasks).map((t) => t.displayKey)).toEqual(["before", "after"]);
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types).not.toContain("run.waiting");
  });

  it.each([
    ["negative", "-5"],
    ["nan", "NaN"],
    ["infinity", "Infinity"],
    ["two-years", String(TWO_YEARS)],
  ])("%s seconds is a clear error naming the key; the run fails without retrying", async (variant, shown) => {
    const runId = await startRun(e2e, "waits", { variant });
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("FAILURE");
    expect(run.error.message).toContain(`"wait-${variant}"`);
    expect(run.error.message).toContain(shown);
    expect(run.error.message).toMatch(/1 year/);
    // one execution: nothing retried the run or the wait
    expect([hits.of(`execution:${variant}`), hits.of(`before:${variant}`), hits.of(`after:${variant}`)]).toEqual([1, 1, 0]);
    expect(flattenTasks(run.tasks).map((t) => [t.displayKey, t.status])).toEqual([["before", "COMPLETED"]]);
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types).not.toContain("run.waiting");
    expect(types).not.toContain("task.retry_scheduled");
    expect(types.filter((t) => t === "run.failed")).toHaveLength(1);
  });
});
