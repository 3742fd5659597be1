import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../../services/server/src/testing";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { httpTransport, TriggerClient, type ApiTransport, type ListeningEndpoint } from "../../src/index";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let server: TestServer | undefined;
let endpoint: ListeningEndpoint | undefined;
let e2e: E2E;
/** `METHOD /path` of every request from the SDK client to a run's task routes. */
const taskCalls: string[] = [];
/** taskCalls.length when each execution of the run started. */
const executionStarts: number[] = [];

/** The default transport, recording each task-route call on its way out. */
const recordingTransport: ApiTransport = (request) => {
  const pathname = new URL(request.url).pathname;
  if (/^\/api\/v1\/runs\/[^/]+\/tasks/.test(pathname)) taskCalls.push(`${request.method} ${pathname}`);
  return httpTransport(request);
};

beforeAll(async () => {
  server = await startTestServer();
  // This client (the one whose calls are counted) serves the job; startE2E's own client, which defines no job,
  // only brings the e2e helpers for the same server.
  const client = new TriggerClient({ id: "observed-app", apiKey: server.apiKeys.dev, apiUrl: server.url, apiTransport: recordingTransport });
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
    // long enough that the wait is still in the future when the server creates it, even on a loaded machine
    await io.wait("pause", 3);
    return io.runTask("c", async () => {
      hits.hit("c");
      return b + 1;
    });
  });
  endpoint = await client.listen({ port: 0 });
  e2e = await startE2E(() => {}, { server });
  const registered = await e2e.api("POST", "/api/v1/endpoints", { id: client.id, url: endpoint.url });
  expect(registered.status, JSON.stringify(registered.body)).toBe(200);
});
afterAll(async () => {
  await e2e?.close();
  await endpoint?.close();
  await server?.close();
});

describe("HTTP calls per task (Baton protocol)", () => {
  it("a replayed task makes no HTTP call, and only a task the server must answer (a wait) costs one", async () => {
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
    // Baton protocol 2: a and b start on the endpoint and are reported with the wait's create (the one call the
    // server must answer: it suspends the run); c starts on the endpoint and is reported with the execution's answer
    expect(taskCalls).toEqual([create]);
    expect(executionStarts.length).toBeGreaterThanOrEqual(2);
    // first execution: a and b start locally, the wait is created (1 call); later executions replay a, b and the wait
    // (no call) and start c locally
    expect(executionStarts[0]).toBe(0);
    expect(executionStarts[1]).toBe(1);
  });
});
