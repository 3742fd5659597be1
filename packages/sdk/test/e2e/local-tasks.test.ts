/**
 * Baton protocol 2: tasks the endpoint starts itself (no server call before the body runs) and reports later.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
let releaseLong: () => void = () => {};
const longGate = new Promise<void>((resolve) => (releaseLong = resolve));

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "timed", async (_p, io) => {
      await io.runTask("sleepy", async () => {
        await new Promise((r) => setTimeout(r, 80));
        return "slept";
      });
      return io.runTask("quick", async () => "quick");
    });
    defineTestJob(client, "long", async (_p, io) => {
      await io.runTask("outer", async (_task, inner) => {
        await inner.runTask("inner", async () => 1);
        hits.hit("long:inner-done");
        await longGate;
      });
      return "done";
    });
  });
});
afterAll(async () => {
  releaseLong();
  await e2e?.close();
});

describe("tasks started by the endpoint (Baton protocol 2)", () => {
  it("keep the endpoint's start and completion times, not the time they were reported", async () => {
    const runId = await startRun(e2e, "timed");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    const [sleepy, quick] = flattenTasks(run.tasks);
    expect([sleepy.displayKey, quick.displayKey]).toEqual(["sleepy", "quick"]);
    const duration = Date.parse(sleepy.completedAt) - Date.parse(sleepy.startedAt);
    // both were reported in one message (the execution's answer): with the report's time the task would last 0 ms
    expect(duration).toBeGreaterThanOrEqual(75);
    expect(Date.parse(quick.startedAt)).toBeGreaterThanOrEqual(Date.parse(sleepy.completedAt));
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types.filter((t) => t === "task.created")).toHaveLength(2);
    expect(types.filter((t) => t === "task.completed")).toHaveLength(2);
  });

  it("show up RUNNING (with their finished subtasks) while a long body still runs", async () => {
    const runId = await startRun(e2e, "long");
    await expect.poll(() => hits.of("long:inner-done"), { timeout: 10_000 }).toBe(1);
    // no other request carries them: the 100 ms flush does
    await expect
      .poll(async () => flattenTasks((await e2e.getRun(runId)).tasks).map((t) => [t.displayKey, t.status]), { timeout: 5_000 })
      .toEqual([
        ["outer", "RUNNING"],
        ["inner", "COMPLETED"],
      ]);
    releaseLong();
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("SUCCESS");
    expect(flattenTasks(run.tasks).map((t) => [t.displayKey, t.status])).toEqual([
      ["outer", "COMPLETED"],
      ["inner", "COMPLETED"],
    ]);
  });

  it("refuses reports naming what the run does not have, with 4xx and nothing written", async () => {
    const runId = await startRun(e2e, "timed");
    await e2e.waitForRun(runId);
    const before = (await runEvents(e2e, runId)).length;
    const report = (body: unknown) => e2e.api("POST", `/api/v1/runs/${runId}/tasks/report`, body);
    const started = { id: "task_01jd0000000000000000000000", idempotencyKey: "late", startedAt: new Date().toISOString() };
    // the run ended: no task may start any more
    const ended = await report({ startedTasks: [started] });
    expect(ended.status, JSON.stringify(ended.body)).toBe(409);
    expect(ended.body.error.message).toContain("SUCCESS");
    // a completion of a task the run does not have
    const unknown = await report({ completedTasks: [{ id: "task_01jd0000000000000000000001", output: "1" }] });
    expect(unknown.status, JSON.stringify(unknown.body)).toBe(422);
    expect(unknown.body.error.message).toContain("task_01jd0000000000000000000001");
    // an id that is not a task id
    const badId = await report({ startedTasks: [{ ...started, id: "run_x" }] });
    expect(badId.status).toBe(422);
    expect(badId.body.error.details.map((d: { path: string }) => d.path)).toContain("startedTasks.0.id");
    const missing = await e2e.api("POST", "/api/v1/runs/run_nope/tasks/report", { completedTasks: [] });
    expect(missing.status).toBe(404);
    expect((await runEvents(e2e, runId)).length).toBe(before);
  });
});
