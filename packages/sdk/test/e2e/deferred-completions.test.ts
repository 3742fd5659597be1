import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../../services/server/src/testing";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { httpTransport, TriggerClient, type ApiTransport, type ListeningEndpoint } from "../../src/index";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let server: TestServer | undefined;
let endpoint: ListeningEndpoint | undefined;
let e2e: E2E;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Latency added to every `/complete` call (a completion flushed alone, 200 ms after its body returned). */
const COMPLETE_LATENCY_MS = 1_500;

/** The default transport, with {@link COMPLETE_LATENCY_MS} before each `/complete` call goes out. */
const slowCompletions: ApiTransport = async (request) => {
  if (/\/tasks\/[^/]+\/complete$/.test(request.url)) await sleep(COMPLETE_LATENCY_MS);
  return httpTransport(request);
};

beforeAll(async () => {
  server = await startTestServer();
  // This client (the one whose completions are slowed) serves the job; startE2E's own client, which defines no
  // job, only brings the e2e helpers for the same server.
  const client = new TriggerClient({ id: "observed-app", apiKey: server.apiKeys.dev, apiUrl: server.url, apiTransport: slowCompletions });
  defineTestJob(client, "fast-beside-slow", async (_p, io) => {
    const [slow, fast] = await Promise.all([
      io.runTask("slow", async () => {
        hits.hit("slow");
        await sleep(600);
        return "slow";
      }),
      io.runTask("fast", async () => {
        hits.hit("fast");
        return "fast";
      }),
    ]);
    return `${slow}+${fast}`;
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

describe("deferred task completions (Baton protocol)", () => {
  it("a completion flushed alone and slow on the wire is recorded before the run ends", async () => {
    const runId = await startRun(e2e, "fast-beside-slow");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect([hits.of("slow"), hits.of("fast")]).toEqual([1, 1]);
    // both were created at once (Promise.all), so their creation order is either way round
    expect(flattenTasks(run.tasks).map((t) => [t.displayKey, t.status]).sort()).toEqual([
      ["fast", "COMPLETED"],
      ["slow", "COMPLETED"],
    ]);
    const types = (await runEvents(e2e, runId)).map((e) => e.type);
    expect(types.lastIndexOf("task.completed")).toBeLessThan(types.indexOf("run.succeeded"));
  });
});
