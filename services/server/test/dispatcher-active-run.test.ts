import { eventTrigger } from "@baton/sdk";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandContext } from "../src/commands/context";
import { executeRun } from "../src/dispatcher/execute-run";
import { startE2E, type E2E } from "./e2e/helpers";
import { graphileJobs, until } from "./support";

let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({ id: "quick", name: "quick", version: "1.0.0", trigger: eventTrigger({ name: "quick" }), run: async () => "done" });
  });
});
afterAll(async () => e2e?.close());

describe("execute-run job for a run this process is executing", () => {
  // Race seen under load: an execution commits RETRY_WITH_TASK due at once, and graphile hands the new `run:<id>` job to
  // another slot before the execution has returned; that job used to be dropped and the run waited forever.
  it("is not dropped: the run is looked at again shortly", async () => {
    const event = await e2e.sendEvent("quick", {});
    const [runId] = await e2e.waitForRuns(event.id);
    expect((await e2e.waitForRun(runId!)).status).toBe("SUCCESS");
    await until(() => graphileJobs(e2e.server.pool, `run:${runId}`), (jobs) => jobs.length === 0, "no pending job");

    // the same process still "executes" the run when the job arrives
    const ctx = { pool: e2e.server.pool, log: pino({ level: "silent" }), workerId: e2e.server.workerId, activeRuns: new Set([runId!]) } as unknown as CommandContext;
    await executeRun(ctx, runId!);
    const jobs = await graphileJobs(e2e.server.pool, `run:${runId}`);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.run_at.getTime()).toBeLessThan(Date.now() + 1_000);

    // the follow-up finds the run ended and changes nothing
    await until(() => graphileJobs(e2e.server.pool, `run:${runId}`), (j) => j.length === 0, "follow-up job done");
    expect((await e2e.getRun(runId!)).status).toBe("SUCCESS");
  });
});
