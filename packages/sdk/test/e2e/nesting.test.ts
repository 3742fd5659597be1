import type { IO } from "../../src/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;

/** Nests `levels` tasks `level-1 > level-2 > ...` through each body's io; the innermost returns its level. */
function nest(io: IO, level: number, levels: number, tag: string, prefix = ""): Promise<number> {
  return io.runTask(`${prefix}level-${level}`, async (_task, sub) => {
    hits.hit(`${tag}:level-${level}`);
    return level === levels ? level : nest(sub, level + 1, levels, tag, prefix);
  });
}

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "five-levels", async (_p, io) => {
      const deepest = await nest(io, 1, 5, "five");
      await io.wait("pause", 1);
      return { deepest, again: await nest(io, 1, 1, "five-after", "after-") };
    });
    defineTestJob(client, "six-levels", async (_p, io) => nest(io, 1, 6, "six"));
    defineTestJob(client, "error-three-down", async (_p, io) =>
      io.runTask("outer", async (_t, io2) =>
        io2.runTask("middle", async (_t2, io3) =>
          io3.runTask(
            "inner",
            async () => {
              hits.hit("inner");
              throw new Error("inventory service said no");
            },
            { retry: { limit: 2, minTimeoutInMs: 100 } },
          ),
        ),
      ),
    );
  });
});
afterAll(async () => e2e?.close());

describe("nested subtasks", () => {
  it("five nested levels succeed, each body run once (also across a wait)", async () => {
    const runId = await startRun(e2e, "five-levels");
    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual({ deepest: 5, again: 1 });
    for (let level = 1; level <= 5; level++) expect(hits.of(`five:level-${level}`), `level ${level}`).toBe(1);
    // the tree: level-1 > level-2 > ... > level-5
    let node = run.tasks[0];
    for (let level = 1; level <= 5; level++) {
      expect(node.displayKey).toBe(`level-${level}`);
      expect(node.status).toBe("COMPLETED");
      node = node.subtasks[0];
    }
    expect(node).toBeUndefined();
    expect(hits.of("five-after:level-1")).toBe(1);
  });

  it("a sixth level fails the run at once, naming the limit and the key path; the level-6 body never runs", async () => {
    const runId = await startRun(e2e, "six-levels");
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("FAILURE");
    expect(run.error.message).toContain('"level-1" > "level-2" > "level-3" > "level-4" > "level-5" > "level-6"');
    expect(run.error.message).toMatch(/at most 5 levels/);
    for (let level = 1; level <= 5; level++) expect(hits.of(`six:level-${level}`), `level ${level}`).toBe(1);
    expect(hits.of("six:level-6")).toBe(0);
    const tasks = flattenTasks(run.tasks);
    expect(tasks.map((t) => t.displayKey)).toEqual(["level-1", "level-2", "level-3", "level-4", "level-5"]);
    expect(tasks.every((t) => t.attempts === 1)).toBe(true);
  });

  it("an error three levels down with retry limit 2 is attempted twice; the run's error names its message and key path", async () => {
    const runId = await startRun(e2e, "error-three-down");
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("FAILURE");
    expect(hits.of("inner")).toBe(2);
    expect(run.error.message).toContain("inventory service said no");
    expect(run.error.message).toContain('"outer" > "middle" > "inner"');
    const tasks = flattenTasks(run.tasks);
    expect(tasks.map((t) => [t.displayKey, t.status, t.attempts])).toEqual([
      ["outer", "ERRORED", 1],
      ["middle", "ERRORED", 1],
      ["inner", "ERRORED", 2],
    ]);
  });
});
