import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
const REPETITIONS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "slow-and-fast", async (payload, io) => {
      const n = payload.n as number;
      const [slow, fast] = await Promise.all([
        io.runTask("slow", async () => {
          hits.hit(`slow:${n}`);
          await sleep(150);
          return "slow";
        }),
        io.runTask("fast", async () => {
          hits.hit(`fast:${n}`);
          return "fast";
        }),
      ]);
      const third = await io.runTask("third", async () => {
        hits.hit(`third:${n}`);
        return `${slow}+${fast}`;
      });
      return third;
    });
  });
});
afterAll(async () => e2e?.close());

describe("tasks started together", () => {
  it(`two tasks under Promise.all (one slow, one fast) then a third: each body runs once, ${REPETITIONS} runs`, async () => {
    const runIds = await Promise.all(Array.from({ length: REPETITIONS }, (_, n) => startRun(e2e, "slow-and-fast", { n })));
    const runs = await Promise.all(runIds.map((id) => e2e.waitForRun(id)));
    for (const [n, run] of runs.entries()) {
      expect(run.status, `run ${n}: ${JSON.stringify(run.error)}`).toBe("SUCCESS");
      expect(run.output).toBe("slow+fast");
      expect([hits.of(`slow:${n}`), hits.of(`fast:${n}`), hits.of(`third:${n}`)], `run ${n}`).toEqual([1, 1, 1]);
      const tasks = flattenTasks(run.tasks);
      expect(tasks.map((t) => t.displayKey).sort()).toEqual(["fast", "slow", "third"]);
      expect(tasks.map((t) => [t.displayKey, t.status, t.attempts]).sort(), `run ${n}`).toEqual([
        ["fast", "COMPLETED", 1],
        ["slow", "COMPLETED", 1],
        ["third", "COMPLETED", 1],
      ]);
    }
  });
});
