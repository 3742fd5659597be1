import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
/** What each execution of the run saw: the three values, in order. */
const seen: unknown[][] = [];

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "empty-outputs", async (_p, io) => {
      const u = await io.runTask("returns-undefined", async () => {
        hits.hit("undefined");
        return undefined;
      });
      const n = await io.runTask("returns-null", async () => {
        hits.hit("null");
        return null;
      });
      const s = await io.runTask("returns-empty-string", async () => {
        hits.hit("empty-string");
        return "";
      });
      seen.push([u, n, s]);
      await io.wait("pause", 1);
      const after = await io.runTask("after-wait", async () => {
        hits.hit("after-wait");
        return { u, n, s, hasU: u === undefined, isNull: n === null, isEmpty: s === "" };
      });
      const last = await io.runTask("last", async () => {
        hits.hit("last");
        return "";
      });
      return { ...after, last };
    });
  });
});
afterAll(async () => e2e?.close());

describe("empty task outputs", () => {
  it("undefined, null and empty string survive a wait: every body ran once and replay returns exactly those values", async () => {
    const runId = await startRun(e2e, "empty-outputs");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    for (const key of ["undefined", "null", "empty-string", "after-wait", "last"]) expect(hits.of(key), key).toBe(1);
    // first execution and the replay after the wait (at least two executions)
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const values of seen) {
      expect(values.length).toBe(3);
      expect(values[0]).toBeUndefined();
      expect(values[1]).toBeNull();
      expect(values[2]).toBe("");
    }
    expect(run.output).toEqual({ n: null, s: "", hasU: true, isNull: true, isEmpty: true, last: "" });
    expect(Object.keys(run.output)).not.toContain("u");
  });
});
