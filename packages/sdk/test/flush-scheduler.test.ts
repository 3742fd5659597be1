import { describe, expect, it } from "vitest";
import type { RunJobBody, TaskReportBody } from "@baton/core";
import type { ApiClient } from "../src/api-client";
import { COMPLETION_FLUSH_DELAY_MS, Execution } from "../src/execution";

/** Executions of protocol 2 over an API stub that records each flushed report with when it came. */
function setup() {
  const flushed: { runId: string; keys: string[]; at: number }[] = [];
  const api = {
    reportTasks: (runId: string, reports: TaskReportBody) => {
      flushed.push({ runId, keys: (reports.startedTasks ?? []).map((t) => t.idempotencyKey), at: performance.now() });
      return Promise.resolve({ runStatus: "EXECUTING" });
    },
  } as unknown as ApiClient;
  const execution = (runId: string) =>
    new Execution({
      body: { run: { id: runId }, batonProtocol: 2, tasks: [], noopTaskKeys: [], uncachedTaskKeys: [] } as unknown as RunJobBody,
      api,
      logLevel: "info",
      outputLimitBytes: 1024,
    });
  const start = (e: Execution, key: string) => {
    e.startLocally({ id: `task_${key}`, idempotencyKey: key, parentId: null, displayKey: key, noop: false, startedAt: new Date() });
    return performance.now();
  };
  return { flushed, execution, start };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("report flushes on the shared timer", () => {
  it("flushes each execution's reports alone once their delay passed, in order; not those taken or answered", async () => {
    const { flushed, execution, start } = setup();
    const a = execution("run_a");
    const b = execution("run_b");
    const c = execution("run_c");
    const d = execution("run_d");
    const startedA = start(a, "a1");
    start(a, "a2");
    start(c, "c1");
    await sleep(30);
    const startedB = start(b, "b1");
    start(d, "d1");
    c.takeReports(); // carried by a request
    d.close(); // carried by the answer
    await sleep(COMPLETION_FLUSH_DELAY_MS + 80);
    expect(flushed.map((f) => [f.runId, f.keys])).toEqual([
      ["run_a", ["a1", "a2"]],
      ["run_b", ["b1"]],
    ]);
    expect(flushed[0]!.at - startedA).toBeGreaterThanOrEqual(COMPLETION_FLUSH_DELAY_MS - 1);
    expect(flushed[1]!.at - startedB).toBeGreaterThanOrEqual(COMPLETION_FLUSH_DELAY_MS - 1);
    await a.settled();
    await b.settled();
  });

  it("an execution armed again after its reports were taken waits its full delay from the new report", async () => {
    const { flushed, execution, start } = setup();
    const a = execution("run_a");
    start(a, "a1");
    await sleep(60);
    a.takeReports();
    const again = start(a, "a2");
    await sleep(COMPLETION_FLUSH_DELAY_MS - 40);
    expect(flushed).toEqual([]);
    await sleep(80);
    expect(flushed.map((f) => f.keys)).toEqual([["a2"]]);
    expect(flushed[0]!.at - again).toBeGreaterThanOrEqual(COMPLETION_FLUSH_DELAY_MS - 1);
    await a.settled();
  });
});
