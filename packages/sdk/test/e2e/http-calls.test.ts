import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const realFetch = globalThis.fetch;
/** `METHOD /path` of every request from this process to a run's task routes (the SDK runs in-process). */
const taskCalls: string[] = [];
/** taskCalls.length when each execution of the run started. */
const executionStarts: number[] = [];

beforeAll(async () => {
  globalThis.fetch = (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (e2e && url.origin === new URL(e2e.server.url).origin && /^\/api\/v1\/runs\/[^/]+\/tasks/.test(url.pathname)) {
      taskCalls.push(`${request.method} ${url.pathname}`);
    }
    return realFetch(input, init);
  };
  e2e = await startE2E((client) => {
    defineTestJob(client, "three-tasks", async (_p, io) => {
      executionStarts.push(taskCalls.length);
      const a = await io.runTask("a", async () => {
        hits.hit("a");
        return 1;
      });
      const b = await io.runTask("b", async () => {
        hits.hit("b");
        return a + 1;
      });
      await io.wait("pause", 1);
      return io.runTask("c", async () => {
        hits.hit("c");
        return b + 1;
      });
    });
  });
});
afterAll(async () => {
  globalThis.fetch = realFetch;
  await e2e?.close();
});

describe("HTTP calls per task (Baton protocol)", () => {
  it("a replayed task makes no HTTP call and a new task costs exactly one", async () => {
    const runId = await startRun(e2e, "three-tasks");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toBe(3);
    expect([hits.of("a"), hits.of("b"), hits.of("c")]).toEqual([1, 1, 1]);
    expect(flattenTasks(run.tasks).map((t) => [t.displayKey, t.status])).toEqual([
      ["a", "COMPLETED"],
      ["b", "COMPLETED"],
      ["pause", "COMPLETED"],
      ["c", "COMPLETED"],
    ]);

    const create = `POST /api/v1/runs/${runId}/tasks`;
    // every call is a create (completions ride on the next create or on the execution's response)
    expect(taskCalls).toEqual([create, create, create, create]);
    expect(executionStarts.length).toBeGreaterThanOrEqual(2);
    // first execution: a, b and the wait are new (3 calls); later executions replay a, b and the wait (no call) and create c
    expect(executionStarts[0]).toBe(0);
    expect(executionStarts[1]).toBe(3);
  });
});
