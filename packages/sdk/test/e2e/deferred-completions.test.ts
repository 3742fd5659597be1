import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const realFetch = globalThis.fetch;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Latency added to every `/complete` call (a completion flushed alone, 200 ms after its body returned). */
const COMPLETE_LATENCY_MS = 1_500;

beforeAll(async () => {
  globalThis.fetch = async (input, init) => {
    if (/\/tasks\/[^/]+\/complete$/.test(new Request(input, init).url)) await sleep(COMPLETE_LATENCY_MS);
    return realFetch(input, init);
  };
  e2e = await startE2E((client) => {
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
  });
});
afterAll(async () => {
  globalThis.fetch = realFetch;
  await e2e?.close();
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
