import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const AT = new Date("2026-02-03T04:05:06.789Z");
/** Per execution: was `r.at` a Date, and its time. */
const seen: { isDate: boolean; time: number | undefined }[] = [];

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "dates", async (_p, io) => {
      const r = await io.runTask("get-date", async () => {
        hits.hit("get-date");
        return { at: new Date(AT) };
      });
      seen.push({ isDate: r.at instanceof Date, time: r.at instanceof Date ? r.at.getTime() : undefined });
      await io.wait("pause", 1);
      return io.runTask("use-date", async () => {
        hits.hit("use-date");
        return { isDate: r.at instanceof Date, iso: r.at.toISOString() };
      });
    });
  });
});
afterAll(async () => e2e?.close());

describe("task outputs keep their types", () => {
  it("a task returning { at: Date } gives a Date on the first execution and after a wait", async () => {
    const runId = await startRun(e2e, "dates");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual({ isDate: true, iso: AT.toISOString() });
    expect(hits.of("get-date")).toBe(1);
    expect(hits.of("use-date")).toBe(1);
    // the first execution (fresh output) and at least one replay after the wait
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual(seen.map(() => ({ isDate: true, time: AT.getTime() })));
  });
});
