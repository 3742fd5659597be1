import type { RetryOptions } from "@baton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;

const RETRY: Record<string, RetryOptions | undefined> = {
  "limit-1": { limit: 1, minTimeoutInMs: 10 },
  "limit-4": { limit: 4, minTimeoutInMs: 10, maxTimeoutInMs: 50 },
  "no-retry": undefined,
};

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "always-fails", async (payload, io) => {
      const variant = payload.variant as string;
      const retry = RETRY[variant];
      return io.runTask(
        "flaky",
        async () => {
          hits.hit(variant);
          throw new Error(`flaky failed (${variant})`);
        },
        retry ? { retry } : {},
      );
    });
    defineTestJob(client, "fails-twice", async (_p, io) =>
      io.runTask(
        "recovers",
        async (task) => {
          hits.hit("recovers");
          if (task.attempts < 3) throw new Error(`attempt ${task.attempts} failed`);
          return { attempt: task.attempts };
        },
        { retry: { limit: 4, minTimeoutInMs: 10, maxTimeoutInMs: 50 } },
      ),
    );
  });
});
afterAll(async () => e2e?.close());

describe("task retries", () => {
  it.each([
    ["limit-1", 1],
    ["limit-4", 4],
    ["no-retry", 1],
  ])("%s: the body is attempted exactly as many times as the limit says (%i), then the run fails", async (variant, attempts) => {
    const runId = await startRun(e2e, "always-fails", { variant });
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("FAILURE");
    expect(run.error.message).toContain(`flaky failed (${variant})`);
    expect(hits.of(variant)).toBe(attempts);
    const [task] = flattenTasks(run.tasks);
    expect([task.displayKey, task.status, task.attempts]).toEqual(["flaky", "ERRORED", attempts]);
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types.filter((t) => t === "task.retry_scheduled")).toHaveLength(attempts - 1);
    expect(types.filter((t) => t === "run.failed")).toHaveLength(1);
  });

  it("a task that fails twice and then succeeds within its limit completes on the third attempt", async () => {
    const runId = await startRun(e2e, "fails-twice");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual({ attempt: 3 });
    expect(hits.of("recovers")).toBe(3);
    const [task] = flattenTasks(run.tasks);
    expect([task.status, task.attempts]).toEqual(["COMPLETED", 3]);
  });
});
