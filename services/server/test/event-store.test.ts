import type { BatonEventBody } from "@baton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppendConflictError, appendToStream, readAll, readStream, UnitOfWork } from "../src/event-store/store";
import { emptyProjectionState } from "../src/projections/reducers";
import { rebuildProjections, runStateAt } from "../src/projections/rebuild";
import { createTestDatabase, type TestDatabase } from "./db";

let db: TestDatabase;
const ENV = "env_test";

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `insert into baton.environments (id, slug, type, api_key_hash, api_key_hint, api_key_ciphertext) values ($1, 'dev', 'DEVELOPMENT', 'h', 'tr_dev_x', 'c')`,
    [ENV],
  );
});
afterAll(async () => db?.drop());

const runCreated = (runId: string): BatonEventBody => ({
  type: "run.created",
  data: {
    runId,
    environmentId: ENV,
    jobSlug: "job",
    jobVersion: "1.0.0",
    endpointId: "ep_1",
    eventRecordId: "evt_1",
    isTest: false,
    concurrencyKey: null,
    concurrencyLimit: null,
    traceparent: null,
  },
});

async function jobCount(key: string): Promise<number> {
  const { rows } = await db.pool.query("select count(*)::int as n from graphile_worker.jobs where key = $1", [key]);
  return rows[0].n;
}

describe("baton.events is immutable", () => {
  it("rejects UPDATE, DELETE and TRUNCATE from SQL with a clear message", async () => {
    await appendToStream(db.pool, "imm-1", 0, [{ type: "run.queued", data: {} }]);
    await expect(db.pool.query("update baton.events set type = 'run.failed' where stream_id = 'imm-1'")).rejects.toThrow(
      /baton\.events is append-only: UPDATE is not allowed/,
    );
    await expect(db.pool.query("delete from baton.events where stream_id = 'imm-1'")).rejects.toThrow(
      /append-only: DELETE is not allowed/,
    );
    await expect(db.pool.query("truncate baton.events")).rejects.toThrow(/append-only: TRUNCATE is not allowed/);
    expect(await readStream(db.pool, "imm-1")).toHaveLength(1);
  });
});

describe("optimistic concurrency", () => {
  it("lets exactly one of two concurrent appends at the same expected version commit", async () => {
    await appendToStream(db.pool, "occ-1", 0, [{ type: "run.queued", data: {} }]);
    const results = await Promise.allSettled([
      appendToStream(db.pool, "occ-1", 1, [{ type: "run.resumed", data: { taskId: "a" } }]),
      appendToStream(db.pool, "occ-1", 1, [{ type: "run.resumed", data: { taskId: "b" } }]),
    ]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    const error = failed[0]!.reason as AppendConflictError;
    expect(error).toBeInstanceOf(AppendConflictError);
    expect(error).toMatchObject({ streamId: "occ-1", expectedVersion: 1, actualVersion: 2 });
    expect(await readStream(db.pool, "occ-1")).toHaveLength(2);
  });
});

describe("group commit", () => {
  it("combines concurrent units of work on different streams into fewer statements", async () => {
    let statements = 0;
    const counting = { query: ((...args: Parameters<typeof db.pool.query>) => (statements++, db.pool.query(...args))) as typeof db.pool.query };
    const positions = await Promise.all(Array.from({ length: 10 }, (_, i) => appendToStream(counting, `gc-${i}`, 0, [{ type: "run.queued", data: {} }])));
    expect(statements).toBeLessThan(10);
    expect(new Set(positions.map((p) => p[0])).size).toBe(10);
    for (let i = 0; i < 10; i++) expect(await readStream(db.pool, `gc-${i}`)).toHaveLength(1);
  });

  it("still commits the others when one unit of work in a combined statement loses a race", async () => {
    await appendToStream(db.pool, "gc-shared", 0, [{ type: "run.queued", data: {} }]);
    const ok = Array.from({ length: 6 }, (_, i) => appendToStream(db.pool, `gc-ok-${i}`, 0, [{ type: "run.queued", data: {} }]));
    const stale = appendToStream(db.pool, "gc-shared", 0, [{ type: "run.queued", data: {} }]); // it is at version 1
    const results = await Promise.allSettled([...ok, stale]);
    expect(results.slice(0, 6).every((r) => r.status === "fulfilled")).toBe(true);
    expect(results[6]).toMatchObject({ status: "rejected", reason: { streamId: "gc-shared", expectedVersion: 0, actualVersion: 1 } });
    expect((results[6] as PromiseRejectedResult).reason).toBeInstanceOf(AppendConflictError);
    for (let i = 0; i < 6; i++) expect(await readStream(db.pool, `gc-ok-${i}`)).toHaveLength(1);
    expect(await readStream(db.pool, "gc-shared")).toHaveLength(1);
  });
});

describe("the transactional outbox", () => {
  it("leaves no event, no projection row and no job when the transaction rolls back", async () => {
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      const uow = new UnitOfWork();
      uow.append("run_rollback", 0, [runCreated("run_rollback"), { type: "run.queued", data: {} }]);
      uow.enqueue({ task: "baton.execute_run", payload: { runId: "run_rollback" }, jobKey: "run:run_rollback" });
      await uow.commit(client);
      await client.query("rollback");
    } finally {
      client.release();
    }
    expect(await readStream(db.pool, "run_rollback")).toHaveLength(0);
    expect((await db.pool.query("select 1 from baton.runs where id = 'run_rollback'")).rowCount).toBe(0);
    expect(await jobCount("run:run_rollback")).toBe(0);
  });

  it("leaves exactly one event, one projection row and one job when it commits", async () => {
    const uow = new UnitOfWork();
    uow.append("run_commit", 0, [runCreated("run_commit")]);
    uow.enqueue({ task: "baton.execute_run", payload: { runId: "run_commit" }, jobKey: "run:run_commit" });
    const positions = await uow.commit(db.pool);
    expect(positions).toHaveLength(1);
    expect(await readStream(db.pool, "run_commit")).toHaveLength(1);
    const { rows } = await db.pool.query("select status, version from baton.runs where id = 'run_commit'");
    expect(rows).toEqual([{ status: "PENDING", version: 1 }]);
    expect(await jobCount("run:run_commit")).toBe(1);
  });

  it("keeps one job when the same wake-up is enqueued twice (job_key)", async () => {
    const at = new Date(Date.now() + 60_000);
    for (let i = 0; i < 2; i++) {
      const uow = new UnitOfWork();
      uow.enqueue({ task: "baton.execute_run", payload: { runId: "run_twice" }, jobKey: "run:run_twice", runAt: at });
      await uow.commit(db.pool);
    }
    expect(await jobCount("run:run_twice")).toBe(1);
  });
});

/** Generates a mixed workload through the append API, loading rows the way commands do. */
async function mixedWorkload(runs: number): Promise<string[]> {
  const ids: string[] = [];
  for (let r = 0; r < runs; r++) {
    const runId = `run_mix_${r}`;
    ids.push(runId);
    const state = emptyProjectionState();
    let version = 0;
    const step = async (events: BatonEventBody[]): Promise<void> => {
      const uow = new UnitOfWork(state, new Date(Date.now() + version * 10));
      uow.append(runId, version, events);
      await uow.commit(db.pool);
      version += events.length;
    };
    await step([runCreated(runId), { type: "run.queued", data: {} }]);
    await step([{ type: "run.started", data: { workerId: "w1", executionId: "x1", isRetry: false } }]);
    const tasks = 1 + (r % 4);
    for (let t = 0; t < tasks; t++) {
      const taskId = `task_${r}_${t}`;
      await step([
        {
          type: "task.created",
          data: {
            taskId, idempotencyKey: `k${t}`, parentId: null, depth: 1, name: `Task ${t}`, displayKey: `k${t}`,
            icon: null, description: null, params: { t }, properties: [], style: { style: "normal" }, noop: false,
            operation: null, parallel: false, status: "RUNNING", delayUntil: null, retry: { limit: 3 }, redact: null,
          },
        },
      ]);
      if (t % 2 === 1) {
        await step([
          { type: "task.retry_scheduled", data: { taskId, error: { message: "boom" }, retryAt: new Date(Date.now() + 1000).toISOString() } },
          { type: "run.waiting", data: { taskId, reason: "retry", resumeAt: new Date(Date.now() + 1000).toISOString(), executionDurationMs: 12 } },
        ]);
        await step([
          { type: "task.resumed", data: { taskId, status: "RUNNING" } },
          { type: "run.resumed", data: { taskId } },
          { type: "run.started", data: { workerId: "w1", executionId: `x${t}`, isRetry: true } },
        ]);
      }
      await step([{ type: "task.completed", data: { taskId, output: JSON.stringify({ b: 1, a: [t] }), outputMeta: null } }]);
    }
    await step([{ type: "log.written", data: { taskId: `log_${r}`, idempotencyKey: "log-1", parentId: null, depth: 1, level: "INFO", message: "hi", data: { r } } }]);
    if (r % 3 === 0) await step([{ type: "run.canceled", data: { reason: "test" } }]);
    else if (r % 3 === 1) await step([{ type: "run.succeeded", data: { output: '{"ok":true}', executionDurationMs: 40 } }]);
    else await step([{ type: "run.failed", data: { error: { message: "x" }, taskId: null, executionDurationMs: 3 } }]);
  }
  return ids;
}

async function snapshotTables(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of [
    ["baton.runs", "id"],
    ["baton.tasks", "id"],
    ["baton.event_records", "id"],
    ["baton.jobs", "environment_id, slug"],
    ["baton.job_versions", "environment_id, job_slug, job_version"],
    ["baton.endpoints", "id"],
  ] as const) {
    out[table] = (await db.pool.query(`select * from ${table} order by ${order}`)).rows;
  }
  return out;
}

describe("projections", () => {
  it("rebuilt from the events alone equal the live tables row for row after a mixed workload", async () => {
    await mixedWorkload(12);
    const live = await snapshotTables();
    expect((live["baton.runs"] as unknown[]).length).toBeGreaterThanOrEqual(12);
    const result = await rebuildProjections(db.pool);
    expect(result.events).toBeGreaterThan(100);
    expect(await snapshotTables()).toEqual(live);
  });

  it("gives the state of a run as of any position equal to the projection right after that event", async () => {
    const runId = "run_pit";
    const state = emptyProjectionState();
    const snapshots: Array<{ position: string; run: unknown; tasks: unknown[] }> = [];
    const steps: BatonEventBody[][] = [
      [runCreated(runId)],
      [{ type: "run.queued", data: {} }],
      [{ type: "run.started", data: { workerId: "w", executionId: "e", isRetry: false } }],
      [{ type: "task.created", data: { taskId: "task_pit", idempotencyKey: "k", parentId: null, depth: 1, name: "T", displayKey: null, icon: null, description: null, noop: false, operation: null, parallel: false, status: "RUNNING", delayUntil: null } }],
      [{ type: "task.completed", data: { taskId: "task_pit", output: "1" } }],
      [{ type: "run.succeeded", data: { output: "1", executionDurationMs: 5 } }],
    ];
    let version = 0;
    for (const events of steps) {
      const uow = new UnitOfWork(state);
      uow.append(runId, version, events);
      const [position] = await uow.commit(db.pool);
      version += events.length;
      snapshots.push({
        position: position!,
        run: (await db.pool.query("select * from baton.runs where id = $1", [runId])).rows[0],
        tasks: (await db.pool.query("select * from baton.tasks where run_id = $1 order by seq", [runId])).rows,
      });
    }
    for (const snap of snapshots) {
      const pit = await runStateAt(db.pool, runId, snap.position);
      expect(pit.run).toEqual(snap.run);
      expect(pit.tasks).toEqual(snap.tasks);
      expect(pit.position).toBe(snap.position);
    }
    const before = await runStateAt(db.pool, runId, BigInt(snapshots[0]!.position) - 1n);
    expect(before.run).toBeUndefined();
  });

  it("reads the whole store in global order from a position", async () => {
    const first = await readAll(db.pool, { limit: 5 });
    const next = await readAll(db.pool, { afterPosition: first[4]!.position, limit: 5 });
    expect(BigInt(next[0]!.position)).toBeGreaterThan(BigInt(first[4]!.position));
  });
});
