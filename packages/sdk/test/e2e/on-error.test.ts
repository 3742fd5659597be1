import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const onErrorCalls: string[] = [];

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "skip-retrying", async (_p, io) =>
      io.runTask(
        "card-declined",
        async () => {
          hits.hit("card-declined");
          throw new Error("card declined");
        },
        { retry: { limit: 5, minTimeoutInMs: 10_000 } },
        (error) => {
          onErrorCalls.push(error instanceof Error ? error.message : String(error));
          return { skipRetrying: true };
        },
      ),
    );
  });
});
afterAll(async () => e2e?.close());

describe("onError", () => {
  it("returning { skipRetrying: true } means one attempt and the run fails at once, with no retry scheduled", async () => {
    const started = Date.now();
    const runId = await startRun(e2e, "skip-retrying");
    const run = await e2e.waitForRun(runId);
    // a scheduled retry would be 10 s away
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(run.status).toBe("FAILURE");
    expect(run.error.message).toContain("card declined");
    expect(hits.of("card-declined")).toBe(1);
    expect(onErrorCalls).toEqual(["card declined"]);
    const [task] = flattenTasks(run.tasks);
    expect([task.status, task.attempts]).toEqual(["ERRORED", 1]);
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types).not.toContain("task.retry_scheduled");
    expect(types.filter((t) => t === "run.failed")).toHaveLength(1);
    const jobs = await e2e.server.pool.query("select count(*)::int as n from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(jobs.rows[0].n).toBe(0);
  });
});
