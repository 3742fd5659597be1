import { RunJobResponse } from "@baton/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventTrigger, taskIdempotencyKey, TriggerClient, type IO } from "../src/index";
import { API_KEY, closedUrl, execute, FakeApi, runJobBody } from "./helpers/fake-api";

let api: FakeApi;
let client: TriggerClient;
const hits = new Map<string, number>();
const hit = (k: string) => hits.set(k, (hits.get(k) ?? 0) + 1);

beforeEach(async () => {
  api = await new FakeApi().start();
  client = new TriggerClient({ id: "app", apiKey: API_KEY, apiUrl: api.url });
  hits.clear();
});
afterEach(async () => {
  await api.stop();
});

function job(id: string, run: (payload: any, io: IO) => Promise<unknown>, logLevel?: "log" | "error" | "warn" | "info" | "debug") {
  client.defineJob({ id, name: id, version: "1.0.0", trigger: eventTrigger({ name: id }), ...(logLevel ? { logLevel } : {}), run: (p, io) => run(p, io) });
}

const last = (responses: any[]) => responses[responses.length - 1];

describe.each([
  ["v2 mode", false],
  ["Baton mode", true],
])("execution engine (%s)", (_mode, baton) => {
  it("a completed task is not executed again after a wait, and keeps its Date type", async () => {
    const seen: unknown[] = [];
    job("dates", async (_p, io) => {
      const r = await io.runTask("get-date", async () => {
        hit("get-date");
        return { at: new Date("2026-05-01T00:00:00Z"), big: 7n, set: new Set([1]) };
      });
      seen.push(r.at instanceof Date, typeof r.big, r.set instanceof Set);
      await io.wait("wait", 10);
      return r.at.toISOString();
    });
    const responses = await api.drive(client, "dates", {}, { baton });
    expect(responses.map((r) => r.status)).toEqual(["RESUME_WITH_TASK", "SUCCESS"]);
    expect(last(responses).output).toBe("2026-05-01T00:00:00.000Z");
    expect(hits.get("get-date")).toBe(1);
    expect(seen).toEqual([true, "bigint", true, true, "bigint", true]);
    for (const r of responses) expect(RunJobResponse.safeParse(r).success).toBe(true);
  });

  it("undefined, null and '' survive a wait and replay exactly", async () => {
    const seen: unknown[] = [];
    job("empties", async (_p, io) => {
      const a = await io.runTask("u", async () => (hit("u"), undefined));
      const b = await io.runTask("n", async () => (hit("n"), null));
      const c = await io.runTask("e", async () => (hit("e"), ""));
      seen.push([a, b, c]);
      await io.wait("w", 5);
      await io.runTask("after", async () => hit("after"));
      return "ok";
    });
    const responses = await api.drive(client, "empties", {}, { baton });
    expect(last(responses).status).toBe("SUCCESS");
    expect(seen).toEqual([[undefined, null, ""], [undefined, null, ""]]);
    expect(Object.fromEntries(hits)).toEqual({ u: 1, n: 1, e: 1, after: 1 });
  });

  it("a new task costs at most two calls in v2 mode and one in Baton mode; a replayed one none", async () => {
    job("count", async (_p, io) => {
      await io.runTask("a", async () => 1);
      await io.runTask("b", async () => 2);
      return "done";
    });
    const responses = await api.drive(client, "count", {}, { baton, runId: "run_count" });
    expect(last(responses).status).toBe("SUCCESS");
    const calls = api.taskRequests();
    if (baton) {
      // create a; create b (carrying a's completion); b's completion rides on the SUCCESS response.
      expect(calls.map((c) => c.path.replace(/.*\/tasks/, "tasks"))).toEqual(["tasks", "tasks"]);
      expect(calls[1]?.body.completedTasks).toHaveLength(1);
      expect(last(responses).completedTasks).toHaveLength(1);
    } else {
      expect(calls.map((c) => c.path.replace(/.*\/tasks/, "tasks").replace(/task_\d+/, ":id"))).toEqual([
        "tasks",
        "tasks/:id/complete",
        "tasks",
        "tasks/:id/complete",
      ]);
      expect(calls[0]?.headers["idempotency-key"]).toMatch(/^[0-9a-f]{64}$/);
      expect(calls[0]?.headers["trigger-version"]).toBe("2023-09-29");
      expect(calls[1]?.headers["trigger-version"]).toBe("2023-11-01");
      expect(calls[0]?.headers["authorization"]).toBe(`Bearer ${API_KEY}`);
      expect(typeof calls[1]?.body.output).toBe("string");
    }
    // Replaying the finished run: every task comes from the cache, no HTTP call.
    const before = api.requests.length;
    const replay = await execute(client, api.body("run_count", "count", {}, { baton }));
    expect(replay.body).toEqual({ status: "SUCCESS", output: "done" });
    expect(api.requests.length).toBe(before);
  });

  it("a key used twice fails the run naming the key; the second body never runs; other parents are fine", async () => {
    job("dup", async (_p, io) => {
      await io.runTask("parent-1", async (_t, sub) => sub.runTask("charge", async () => hit("p1-charge")));
      await io.runTask("parent-2", async (_t, sub) => sub.runTask("charge", async () => hit("p2-charge")));
      await io.runTask("charge", async () => hit("charge-1"));
      await io.runTask("charge", async () => hit("charge-2"));
      return "unreachable";
    });
    const responses = await api.drive(client, "dup", {}, { baton });
    const final = last(responses);
    expect(final.status).toBe("ERROR");
    expect(final.error.message).toMatch(/Task with key "charge" .*already used in this run/);
    expect(Object.fromEntries(hits)).toEqual({ "p1-charge": 1, "p2-charge": 1, "charge-1": 1 });
  });

  it("five nested levels succeed; a sixth fails fast naming the key path, its body never runs, no retry", async () => {
    const nest = (io: IO, level: number, max: number): Promise<unknown> =>
      io.runTask(`level-${level}`, async (_t, sub) => {
        hit(`level-${level}`);
        return level < max ? nest(sub, level + 1, max) : level;
      }, { retry: { limit: 3, minTimeoutInMs: 1, randomize: false } });
    job("five", async (_p, io) => nest(io, 1, 5));
    job("six", async (_p, io) => nest(io, 1, 6));
    const five = await api.drive(client, "five", {}, { baton });
    expect(last(five)).toMatchObject({ status: "SUCCESS", output: 5 });
    expect([1, 2, 3, 4, 5].map((l) => hits.get(`level-${l}`))).toEqual([1, 1, 1, 1, 1]);
    hits.clear();
    const six = await api.drive(client, "six", {}, { baton });
    expect(six).toHaveLength(1);
    const final = last(six);
    expect(final.status).toBe("ERROR");
    expect(final.error.message).toContain('"level-1" > "level-2" > "level-3" > "level-4" > "level-5" > "level-6"');
    expect(final.error.message).toMatch(/at most 5 levels/);
    expect(hits.get("level-6")).toBeUndefined();
    expect(hits.get("level-5")).toBe(1);
  });

  it("retry.limit counts all attempts; no retry option = one attempt", async () => {
    for (const [id, retry, attempts] of [
      ["r1", { limit: 1 }, 1],
      ["r4", { limit: 4, minTimeoutInMs: 1, randomize: false }, 4],
      ["r0", undefined, 1],
    ] as const) {
      job(id, async (_p, io) =>
        io.runTask("flaky", async () => {
          hit(id);
          throw new Error(`boom ${id}`);
        }, retry ? { retry } : {}),
      );
      const responses = await api.drive(client, id, {}, { baton });
      expect(hits.get(id)).toBe(attempts);
      expect(responses.filter((r) => r.status === "RETRY_WITH_TASK")).toHaveLength(attempts - 1);
      expect(last(responses).status).toBe("ERROR");
      expect(last(responses).error.message).toContain(`boom ${id}`);
      expect(last(responses).error.message).toContain('"flaky"');
    }
  });

  it("onError returning skipRetrying fails at once", async () => {
    job("skip", async (_p, io) =>
      io.runTask(
        "t",
        async () => {
          hit("t");
          throw new Error("nope");
        },
        { retry: { limit: 5 } },
        () => ({ skipRetrying: true }),
      ),
    );
    const responses = await api.drive(client, "skip", {}, { baton });
    expect(responses.map((r) => r.status)).toEqual(["ERROR"]);
    expect(hits.get("t")).toBe(1);
  });

  it("an error three levels down with retry limit 2 is attempted twice; the run error names message and key path", async () => {
    job("deep-error", async (_p, io) =>
      io.runTask("outer", async (_t, a) =>
        a.runTask("middle", async (_t2, b) =>
          b.runTask("inner", async () => {
            hit("inner");
            throw new Error("card declined");
          }, { retry: { limit: 2, minTimeoutInMs: 1, randomize: false } }),
        ),
      ),
    );
    const responses = await api.drive(client, "deep-error", {}, { baton });
    expect(hits.get("inner")).toBe(2);
    const final = last(responses);
    expect(final.status).toBe("ERROR");
    expect(final.error.message).toContain("card declined");
    expect(final.error.message).toContain('"outer" > "middle" > "inner"');
  });

  it("Promise.all of a slow and a fast task, then a third: each body runs once", async () => {
    for (let i = 0; i < 20; i++) {
      const id = `pa-${i}`;
      job(id, async (_p, io) => {
        const [slow, fast] = await Promise.all([
          io.runTask("slow", async () => (hit(`${id}-slow`), await new Promise((r) => setTimeout(r, 5)), "s")),
          io.runTask("fast", async () => (hit(`${id}-fast`), "f")),
        ]);
        await io.wait("w", 1);
        const third = await io.runTask("third", async () => (hit(`${id}-third`), "t"));
        return `${slow}${fast}${third}`;
      });
      const responses = await api.drive(client, id, {}, { baton });
      expect(last(responses)).toMatchObject({ status: "SUCCESS", output: "sft" });
      expect([hits.get(`${id}-slow`), hits.get(`${id}-fast`), hits.get(`${id}-third`)]).toEqual([1, 1, 1]);
    }
  });

  it("io.logger records each call once by position, across a wait, same message twice is fine, gated by the job level", async () => {
    job("logs", async (_p, io) => {
      await io.logger.info("hello");
      await io.logger.info("hello");
      await io.logger.debug("hidden at info");
      await io.wait("w", 1);
      await io.logger.warn("after");
      await io.logger.error("oops", { code: 1 });
      return "ok";
    });
    job("quiet", async (_p, io) => {
      await io.logger.info("dropped");
      await io.logger.error("kept");
      return "ok";
    }, "error");
    expect(last(await api.drive(client, "logs", {}, { baton })).status).toBe("SUCCESS");
    const logs = [...api.tasks.values()].filter((t) => t.name === "log").map((t) => t.description);
    expect(logs).toEqual(["hello", "hello", "after", "oops"]);
    expect(last(await api.drive(client, "quiet", {}, { baton })).status).toBe("SUCCESS");
    const all = [...api.tasks.values()].filter((t) => t.name === "log").map((t) => t.description);
    expect(all).toEqual(["hello", "hello", "after", "oops", "kept"]);
  });

  it("io.wait: 0 is immediate; -5, NaN, Infinity and 2 years fail naming key and value, never retried", async () => {
    job("wait0", async (_p, io) => {
      await io.wait("zero", 0);
      return "ok";
    });
    expect((await api.drive(client, "wait0", {}, { baton })).map((r) => r.status)).toEqual(["SUCCESS"]);
    for (const [i, value] of [-5, Number.NaN, Number.POSITIVE_INFINITY, 2 * 31_536_000].entries()) {
      const id = `wait-bad-${i}`;
      job(id, async (_p, io) => {
        await io.runTask("holder", async () => {
          hit(id);
          await io.wait("pause", value);
        }, { retry: { limit: 5, minTimeoutInMs: 1 } });
        return "unreachable";
      });
      const responses = await api.drive(client, id, {}, { baton });
      expect(responses.map((r) => r.status)).toEqual(["ERROR"]);
      expect(last(responses).error.message).toContain('io.wait("pause", ' + String(value) + ")");
      expect(hits.get(id)).toBe(1);
    }
  });

  it("task.idempotencyKey is stable across replays", async () => {
    const keys: string[] = [];
    job("idem", async (_p, io) => {
      await io.runTask("x", async (task) => {
        keys.push(task.idempotencyKey);
        throw new Error("again");
      }, { retry: { limit: 2, minTimeoutInMs: 1 } });
    });
    await api.drive(client, "idem", {}, { baton, runId: "run_idem" });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
    expect(keys[0]).toBe(taskIdempotencyKey("run_idem", undefined, "x"));
  });
});

describe("Baton deferred completion", () => {
  it("is flushed alone with /complete after 200 ms when no other request comes", async () => {
    job("flush", async (_p, io) => {
      await io.runTask("a", async () => "A");
      await new Promise((r) => setTimeout(r, 400));
      return "done";
    });
    const responses = await api.drive(client, "flush", {}, { baton: true });
    expect(responses).toHaveLength(1);
    expect(responses[0]).toEqual({ status: "SUCCESS", output: "done" });
    const paths = api.taskRequests().map((r) => r.path.replace(/task_\d+/, ":id").replace(/.*\/tasks/, "tasks"));
    expect(paths).toEqual(["tasks", "tasks/:id/complete"]);
    expect([...api.tasks.values()][0]?.status).toBe("COMPLETED");
  });
});

describe("cache-only replay", () => {
  it("a duplicate key fails the run naming the key without any HTTP call", async () => {
    const offline = new TriggerClient({ id: "app", apiKey: API_KEY, apiUrl: await closedUrl() });
    offline.defineJob({
      id: "dup",
      name: "dup",
      version: "1.0.0",
      trigger: eventTrigger({ name: "dup" }),
      run: async (_p, io) => {
        await io.runTask("charge", async () => hit("first"));
        await io.runTask("charge", async () => hit("second"));
      },
    });
    const key = taskIdempotencyKey("run_1", undefined, "charge");
    const r = await execute(offline, runJobBody("run_1", "dup", {}, { tasks: [{ id: key, idempotencyKey: key, status: "COMPLETED", noop: false, output: 1 }] }));
    expect(r.body.status).toBe("ERROR");
    expect(r.body.error.message).toMatch(/Task with key "charge" .*already used in this run/);
    expect(hits.size).toBe(0);
    expect(offline.apiRequestCount).toBe(0);
  });

  it("only COMPLETED cached tasks are used; a bloom filter alone is ignored (the server is asked)", async () => {
    job("errored-cache", async (_p, io) => io.runTask("t", async () => (hit("t"), "fresh")));
    const key = taskIdempotencyKey("run_e", undefined, "t");
    const r = await execute(client, runJobBody("run_e", "errored-cache", {}, { tasks: [{ id: key, idempotencyKey: key, status: "ERRORED", noop: false, output: "stale" }], noopTasksSet: "AAAA" }));
    expect(r.body).toEqual({ status: "SUCCESS", output: "fresh" });
    expect(hits.get("t")).toBe(1);
  });
});

describe("auto-yield", () => {
  it("yields before starting a task when the budget is nearly spent, honouring autoYieldConfig", async () => {
    job("yield", async (_p, io) => {
      await new Promise((r) => setTimeout(r, 30));
      return io.runTask("t", async () => hit("t"));
    });
    const r = await execute(
      client,
      runJobBody("run_y", "yield", {}, {
        runChunkExecutionLimit: 100,
        autoYieldConfig: { startTaskThreshold: 90, beforeExecuteTaskThreshold: 10, beforeCompleteTaskThreshold: 10, afterCompleteTaskThreshold: 10 },
      }),
    );
    expect(r.body.status).toBe("AUTO_YIELD_EXECUTION");
    expect(r.body.location).toBe("start_task");
    expect(r.body.limit).toBe(100);
    expect(hits.get("t")).toBeUndefined();
  });
});
