import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, runEvents, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const MESSAGES = ["starting", "same message", "same message", "before the wait", "after the wait", "done"];

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "logs", async (_p, io) => {
      hits.hit("execution");
      await io.logger.info("starting");
      await io.logger.info("same message");
      await io.logger.info("same message");
      await io.runTask("work", async () => {
        hits.hit("work");
        return 1;
      });
      await io.logger.info("before the wait", { step: 1 });
      await io.wait("pause", 1);
      await io.logger.info("after the wait");
      await io.runTask("more-work", async () => {
        hits.hit("more-work");
        return 2;
      });
      await io.logger.info("done");
      return "ok";
    });
  });
});
afterAll(async () => e2e?.close());

describe("io.logger", () => {
  it("messages logged before and after a wait are each recorded exactly once, in order", async () => {
    const runId = await startRun(e2e, "logs");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(hits.of("execution")).toBeGreaterThanOrEqual(2);
    expect([hits.of("work"), hits.of("more-work")]).toEqual([1, 1]);

    const logs = flattenTasks(run.tasks).filter((t) => t.name === "log");
    expect(logs.map((t) => t.description)).toEqual(MESSAGES);
    const written = (await runEvents(e2e, runId)).filter((e) => e.type === "log.written");
    expect(written.map((e) => e.data.message)).toEqual(MESSAGES);
    expect(written.map((e) => e.data.level)).toEqual(MESSAGES.map(() => "INFO"));
    expect(written[3].data.data).toEqual({ step: 1 });
  });
});
