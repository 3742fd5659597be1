import { eventTrigger } from "@baton/sdk";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandContext } from "../src/commands/context";
import { loadSuspendedRuns, resumeDueRuns, resumeStatement, type SuspendedRun } from "../src/dispatcher/execute-run";
import { connectionSettings, Waker, type WakeResult } from "../src/dispatcher/waker";
import { CommitBatcher, UnitOfWork, type Queryable } from "../src/event-store/store";
import { runStateAt } from "../src/projections/rebuild";
import { createTestDatabase, startTestServer, type TestServer } from "../src/testing";
import { startE2E, TERMINAL, type E2E } from "./e2e/helpers";
import { until } from "./support";

const log = pino({ level: "silent" });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function defineNap(e2e: { client: E2E["client"] } | E2E["client"]): void {
  const client = "client" in e2e ? e2e.client : e2e;
  client.defineJob({
    id: "nap",
    name: "nap",
    version: "1.0.0",
    trigger: eventTrigger({ name: "nap" }),
    run: async (payload: { seconds: number }, io) => {
      await io.wait("w", payload.seconds);
      return "rested";
    },
  });
}

interface EventRow {
  type: string;
  version: number;
  position: string;
  occurred_at: Date;
  data: Record<string, unknown>;
  xmin: string;
}

async function eventsOf(pool: pg.Pool, runId: string): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    "select type, version, position::text as position, occurred_at, data, xmin::text as xmin from baton.events where stream_id = $1 order by version",
    [runId],
  );
  return rows;
}

/** The wait's due time as the endpoint asked for it (the `delayUntil` of its task). */
function delayUntil(events: readonly EventRow[]): Date {
  const created = events.find((e) => e.type === "task.created" && e.data["delayUntil"]);
  expect(created, events.map((e) => e.type).join(",")).toBeDefined();
  return new Date(created!.data["delayUntil"] as string);
}

describe("a wait ends on time (the dispatcher)", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E((client) => defineNap(client));
  });
  afterAll(async () => e2e?.close());

  it("resumes each of many waiting runs exactly once, at its due time, and they succeed", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const event = await e2e.sendEvent("nap", { seconds: 1 });
      ids.push(...(await e2e.waitForRuns(event.id)));
    }
    for (const runId of ids) {
      const run = await e2e.waitForRun(runId, TERMINAL, 30_000);
      expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
      const events = await eventsOf(e2e.server.pool, runId);
      const types = events.map((e) => e.type);
      expect(types.filter((t) => t === "run.resumed"), types.join(",")).toHaveLength(1);
      expect(types.filter((t) => t === "task.resumed"), types.join(",")).toHaveLength(1);
      const resumed = events.find((e) => e.type === "run.resumed")!;
      // never early; late only by what a busy test machine costs (the benchmark holds the tight bound)
      const lateness = resumed.occurred_at.getTime() - delayUntil(events).getTime();
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(1_000);
    }
  });
});

describe("a wait due within 5 s", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E((client) => defineNap(client));
  });
  afterAll(async () => e2e?.close());

  it("is handed to the wake-up thread as the execution committed it, without reading the run first", async () => {
    // every statement the server sends through its pool (the wake-up thread has its own connections)
    const sent: string[] = [];
    const pool = e2e.server.pool;
    const query = pool.query;
    pool.query = function (this: pg.Pool, ...args: unknown[]) {
      const q = args[0] as string | { text: string };
      sent.push(typeof q === "string" ? q : q.text);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof pool.query;
    try {
      const event = await e2e.sendEvent("nap", { seconds: 1 });
      const [runId] = await e2e.waitForRuns(event.id);
      const run = await e2e.waitForRun(runId!, TERMINAL, 30_000);
      expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
      const events = await eventsOf(e2e.server.pool, runId!);
      expect(events.filter((e) => e.type === "run.resumed")).toHaveLength(1);
    } finally {
      pool.query = query;
    }
    // the read ahead of a wake-up (loadSuspendedRuns) never ran: under load its answer waits behind everything else
    // on the server's thread, and the wait ended late
    expect(sent.filter((text) => text.includes("status = 'WAITING_TO_CONTINUE'"))).toEqual([]);
  });
});

describe("the wake-up thread", () => {
  // Runs are brought to their wait by server A, which then stops, so nothing but the test ends their waits; server B
  // (no dispatcher) serves the API for cancels.
  const WAIT_S = 6;
  let database: { connectionString: string; drop(): Promise<void> };
  let a: TestServer;
  let b: TestServer;
  let e2e: E2E;
  let pool: pg.Pool;
  let ctx: CommandContext;
  const waiting: string[] = [];
  const wakers: Waker[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    a = await startTestServer({ connectionString: database.connectionString });
    e2e = await startE2E((client) => defineNap(client), { server: a });
    for (let i = 0; i < 6; i++) {
      const event = await e2e.sendEvent("nap", { seconds: WAIT_S });
      waiting.push(...(await e2e.waitForRuns(event.id)));
    }
    for (const runId of waiting) await e2e.waitForRun(runId, ["WAITING_TO_CONTINUE"], 20_000);
    await a.close();
    b = await startTestServer({ connectionString: database.connectionString, dispatcher: false, devApiKey: a.apiKeys.dev, prodApiKey: a.apiKeys.prod });
    pool = new pg.Pool({ connectionString: database.connectionString, max: 4 });
    ctx = { pool, workerId: "worker_wakeup_test", log } as unknown as CommandContext;
    const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from baton.runs where status = 'WAITING_TO_CONTINUE'");
    expect(rows[0]!.n, "server A stopped before any wait came due").toBe(waiting.length);
  }, 120_000);
  afterAll(async () => {
    for (const w of wakers) await w.stop();
    await e2e?.close();
    await pool?.end();
    await b?.close();
    await database?.drop();
  });

  /** A started wake-up thread and the results it reports. */
  async function startWaker(): Promise<{ waker: Waker; results: WakeResult[] }> {
    const results: WakeResult[] = [];
    const waker = new Waker(connectionSettings(pool)!, (r) => results.push(...r), () => undefined, log);
    wakers.push(waker);
    waker.warm();
    await until(async () => waker.ready, (ok) => ok, "the wake-up thread to start", 15_000);
    return { waker, results };
  }

  async function suspended(runId: string): Promise<SuspendedRun> {
    const state = (await loadSuspendedRuns(pool, [runId])).get(runId);
    expect(state, `${runId} is suspended`).toBeDefined();
    return state!;
  }

  it("commits a prepared resumption at its due time, writing what a resumption built then would", async () => {
    const runId = waiting[0]!;
    const state = await suspended(runId);
    const at = state.run.resume_at!;
    const statement = resumeStatement(ctx, state, at);
    expect(statement).toBeDefined();
    const { waker, results } = await startWaker();
    waker.arm(runId, 1, at, statement!);
    const [result] = await until(async () => results, (r) => r.length > 0, "the wait to end", 20_000);
    expect(result).toMatchObject({ runId, token: 1, outcome: "resumed" });
    expect(result!.at).toBeGreaterThanOrEqual(at.getTime());

    const events = await eventsOf(pool, runId);
    const tail = events.slice(-2);
    expect(tail.map((e) => e.type)).toEqual(["task.resumed", "run.resumed"]);
    // the time written is the time it was committed, not the time it was prepared
    for (const e of tail) expect(e.occurred_at.getTime()).toBe(result!.at);
    // the projection rows it wrote are exactly the fold of the run's events
    const folded = await runStateAt(pool, runId, tail[1]!.position);
    const { rows: live } = await pool.query("select * from baton.runs where id = $1", [runId]);
    const { rows: liveTasks } = await pool.query("select * from baton.tasks where run_id = $1 order by seq", [runId]);
    expect(live[0]).toEqual(folded.run);
    expect(liveTasks).toEqual(folded.tasks);
    expect(live[0].status).toBe("WAITING_TO_EXECUTE");
    expect(liveTasks[0].status).toBe("COMPLETED");
    expect(liveTasks[0].completed_at.getTime()).toBe(result!.at);
  });

  it("lets exactly one of two processes' prepared resumptions of the same wait commit", async () => {
    const runId = waiting[1]!;
    const state = await suspended(runId);
    const at = state.run.resume_at!;
    const one = await startWaker();
    const two = await startWaker();
    one.waker.arm(runId, 1, at, resumeStatement(ctx, state, at)!);
    two.waker.arm(runId, 1, at, resumeStatement(ctx, state, at)!);
    await until(async () => one.results.length + two.results.length, (n) => n === 2, "both to report", 20_000);
    expect([...one.results, ...two.results].map((r) => r.outcome).sort()).toEqual(["conflict", "resumed"]);
    expect((await eventsOf(pool, runId)).filter((e) => e.type === "run.resumed")).toHaveLength(1);
  });

  it("commits nothing for a run canceled after its resumption was prepared: cancel wins", async () => {
    const runId = waiting[2]!;
    const state = await suspended(runId);
    const statement = resumeStatement(ctx, state, state.run.resume_at!)!;
    const r = await fetch(`${b.url}/api/v1/runs/${runId}/cancel`, { method: "POST", headers: { authorization: `Bearer ${b.apiKeys.dev}` } });
    expect(r.status, await r.text()).toBe(200);
    const { waker, results } = await startWaker();
    waker.arm(runId, 7, state.run.resume_at!, statement);
    const [result] = await until(async () => results, (x) => x.length > 0, "the statement to be tried", 20_000);
    expect(result).toMatchObject({ runId, token: 7, outcome: "conflict" });
    const types = (await eventsOf(pool, runId)).map((e) => e.type);
    expect(types).not.toContain("run.resumed");
    expect(types.at(-1)).toBe("run.canceled");
    expect((await pool.query("select status from baton.runs where id = $1", [runId])).rows[0].status).toBe("CANCELED");
  });

  it("ends the waits of runs due together in one statement", async () => {
    const ids = [waiting[3]!, waiting[4]!];
    const states = await Promise.all(ids.map(suspended));
    // due a little ahead, so both timers come due in the same tick of the thread
    const at = new Date(Math.max(Date.now() + 500, ...states.map((s) => s.run.resume_at!.getTime())));
    const { waker, results } = await startWaker();
    ids.forEach((runId, i) => waker.arm(runId, 1, at, resumeStatement(ctx, states[i]!, at)!));
    await until(async () => results, (r) => r.length === 2, "both waits to end", 20_000);
    expect(results.map((r) => r.outcome), JSON.stringify(results)).toEqual(["resumed", "resumed"]);
    const resumed = await Promise.all(ids.map(async (id) => (await eventsOf(pool, id)).find((e) => e.type === "run.resumed")!));
    // one transaction
    expect(resumed[0]!.xmin, JSON.stringify(results)).toBe(resumed[1]!.xmin);
  });

  it("reports a statement it cannot commit (no database) as an error, so the dispatcher ends that wait itself", async () => {
    const runId = waiting[5]!;
    const state = await suspended(runId);
    const results: WakeResult[] = [];
    const waker = new Waker({ connectionString: "postgres://nobody:x@127.0.0.1:1/none", connectionTimeoutMillis: 2_000 }, (r) => results.push(...r), () => undefined, log);
    wakers.push(waker);
    waker.warm();
    await until(async () => waker.ready, (ok) => ok, "the wake-up thread to start", 15_000);
    waker.arm(runId, 3, new Date(), resumeStatement(ctx, state, state.run.resume_at!)!);
    const [result] = await until(async () => results, (r) => r.length > 0, "the statement to be tried", 20_000);
    expect(result).toMatchObject({ runId, token: 3, outcome: "error" });
    expect((await eventsOf(pool, runId)).map((e) => e.type)).not.toContain("run.resumed");
  });

  it("reads a run afresh when the state read ahead went stale, and resumes it only while it waits", async () => {
    const runId = waiting[5]!;
    const stale = await suspended(runId);
    // another writer moves the run on without ending its wait (a log line)
    const uow = new UnitOfWork();
    uow.state.runs.set(runId, stale.run);
    uow.append(runId, stale.run.version, [
      { type: "log.written", data: { taskId: "task_log_test", idempotencyKey: "log-test", parentId: null, depth: 0, level: "INFO", message: "hello" } },
    ]);
    await uow.commit(pool);
    await sleep(Math.max(0, stale.run.resume_at!.getTime() - Date.now()));
    expect(await resumeDueRuns(ctx, [runId], new Map([[runId, stale]]))).toEqual([runId]);
    // a second attempt with the same stale state finds it no longer waiting
    expect(await resumeDueRuns(ctx, [runId], new Map([[runId, stale]]))).toEqual([]);
    expect((await eventsOf(pool, runId)).filter((e) => e.type === "run.resumed")).toHaveLength(1);
  });
});

describe("group commit's urgent lane", () => {
  it("sends an urgent unit of work at once, ahead of ordinary ones queued behind full statement slots", async () => {
    const sent: string[][] = [];
    const release: Array<() => void> = [];
    const fake: Queryable = {
      query: ((config: { values: unknown[] }) => {
        const jobs = JSON.parse(String(config.values.at(-1))) as Array<{ job_key: string }>;
        sent.push(jobs.map((j) => j.job_key));
        return new Promise((resolve) => release.push(() => resolve({ rows: [{}] })));
      }) as unknown as Queryable["query"],
    };
    const batcher = new CommitBatcher(fake);
    const uow = (key: string): UnitOfWork => {
      const u = new UnitOfWork();
      u.enqueue({ task: "t", payload: {}, jobKey: key });
      return u;
    };
    const done = [batcher.submit(uow("a")), batcher.submit(uow("b")), batcher.submit(uow("c")), batcher.submit(uow("d"))];
    expect(sent).toEqual([["a"], ["b"]]); // both ordinary slots taken; c and d wait
    done.push(batcher.submit(uow("u"), { urgent: true }));
    // in a statement of its own: urgent units of work only beyond the ordinary slots
    expect(sent).toEqual([["a"], ["b"], ["u"]]);
    // one queued while every slot is taken leads the next statement, ahead of the ordinary ones that waited longer
    done.push(batcher.submit(uow("v"), { urgent: true }));
    expect(sent).toHaveLength(3);
    release.shift()!();
    await until(async () => sent.length, (n) => n === 4, "the next statement");
    expect(sent[3]).toEqual(["v"]);
    release.shift()!(); // b
    release.shift()!(); // u
    await until(async () => sent.length, (n) => n === 5, "the next statement");
    expect(sent[4]).toEqual(["c", "d"]);
    let settled = false;
    void Promise.all(done).then(() => (settled = true));
    while (!settled) {
      release.shift()?.();
      await sleep(5);
    }
    expect(sent.flat().sort()).toEqual(["a", "b", "c", "d", "u", "v"]);
  });
});
