import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { eventTrigger } from "@baton/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startE2E, type E2E } from "../e2e/helpers";
import { defineSeedLikeJob, type Outbox } from "./seed-like";

const outbox: Outbox = { sent: [] };
let e2e: E2E;
let seedRunId: string;
let flakyRunId: string;

/** The example questions of docs/AUDIT.md, run as the auditor role. */
export const QUESTIONS = {
  "Who started runs of job new-user, with which key, and when?": `
select t.run_id, t.occurred_at, t.actor, t.route
from audit.run_timeline t
where t.type = 'run.created' and t.data->>'jobSlug' = 'new-user'
order by t.position`,
  "What happened to this run, step by step, and who did it?": `
select run_version as v, occurred_at, type, status, actor, detail
from audit.run_timeline
where run_id = $1
order by position`,
  "Which task attempts failed, and why?": `
select run_id, task_key, attempt, outcome, will_retry, retry_at, error_message, round(duration_ms) as ms
from audit.task_attempts
where outcome = 'ERRORED'
order by ended_at`,
  "Which events came in, which runs did they start, and were they deduplicated?": `
select event_id, name, received_by, run_count, run_ids, dedupes, delivered_at is not null as delivered
from audit.event_deliveries
order by received_at`,
  "What did each API key do in the last day?": `
select key_hint, route, type, count(*) as events, max(occurred_at) as last_at
from audit.api_activity
where occurred_at > now() - interval '1 day'
group by key_hint, route, type
order by key_hint, route, type`,
} as const;

async function asAuditor<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: e2e.server.connectionString });
  await client.connect();
  try {
    await client.query("set role baton_auditor");
    return await body(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineSeedLikeJob(client, outbox);
    let calls = 0;
    client.defineJob({
      id: "flaky",
      name: "Flaky sync",
      version: "1.0.0",
      trigger: eventTrigger({ name: "flaky.sync", schema: z.object({}) }),
      run: async (_payload, io) =>
        io.runTask(
          "sync",
          async () => {
            calls += 1;
            if (calls === 1) throw new Error("upstream timed out");
            return { synced: true };
          },
          { name: "Sync", retry: { limit: 3, minTimeoutInMs: 100, maxTimeoutInMs: 200, factor: 1, randomize: false } },
        ),
    });
  });
  const seed = await e2e.sendEvent("new.user", { userId: "grace", waitSeconds: 1 }, { id: "audit-user-1" });
  const flaky = await e2e.sendEvent("flaky.sync", {}, { id: "audit-flaky-1" });
  // a delayed event resent with the same id is merged into the first (a dedupe)
  await e2e.sendEvent("new.user", { userId: "later", waitSeconds: 1 }, { id: "audit-delayed", deliverAfter: 3600 });
  await e2e.sendEvent("new.user", { userId: "later2", waitSeconds: 1 }, { id: "audit-delayed", deliverAfter: 3600 });
  [seedRunId] = (await e2e.waitForRuns(seed.id)) as [string];
  [flakyRunId] = (await e2e.waitForRuns(flaky.id)) as [string];
  expect((await e2e.waitForRun(seedRunId)).status).toBe("SUCCESS");
  expect((await e2e.waitForRun(flakyRunId)).status).toBe("SUCCESS");
});
afterAll(async () => e2e?.close());

describe("audit views and the baton_auditor role", () => {
  it("run_timeline lists every transition of a run with its time and actor", async () => {
    const { rows } = await asAuditor((c) => c.query(QUESTIONS["What happened to this run, step by step, and who did it?"], [seedRunId]));
    const runEvents = rows.map((r) => r.type);
    expect(runEvents[0]).toBe("run.created");
    expect(runEvents).toContain("run.waiting");
    expect(runEvents).toContain("run.resumed");
    expect(runEvents[runEvents.length - 1]).toBe("run.succeeded");
    expect(rows[0].actor).toMatch(/^api_key:tr_dev_/);
    expect(rows.find((r) => r.type === "run.started").actor).toMatch(/^worker:/);
    expect(rows[rows.length - 1].status).toBe("SUCCESS");
  });

  it("task_attempts shows each attempt with its outcome, error and duration", async () => {
    const { rows } = await asAuditor((c) =>
      c.query("select * from audit.task_attempts where run_id = $1 and task_key = 'sync' order by attempt", [flakyRunId]),
    );
    expect(rows.map((r) => [r.attempt, r.outcome, r.will_retry])).toEqual([
      [1, "ERRORED", true],
      [2, "COMPLETED", false],
    ]);
    expect(rows[0].error_message).toBe("upstream timed out");
    expect(rows[0].retry_at).toBeInstanceOf(Date);
    expect(Number(rows[1].duration_ms)).toBeGreaterThanOrEqual(0);
    const wait = await asAuditor((c) => c.query("select * from audit.task_attempts where run_id = $1 and task_name = 'wait'", [seedRunId]));
    expect(wait.rows[0]).toMatchObject({ outcome: "COMPLETED", attempt: 1 });
    // the 1 s wait is timed by the SDK (delayUntil = its clock + 1 s), so the attempt lasts from the task's creation
    // on the server until delayUntil: the duration is exactly that span, never ending before delayUntil
    const { rows: task } = await e2e.server.pool.query<{ created_at: Date; delay_until: Date; completed_at: Date }>(
      "select created_at, delay_until, completed_at from baton.tasks where run_id = $1 and name = 'wait'",
      [seedRunId],
    );
    expect(task[0]!.completed_at.getTime()).toBeGreaterThanOrEqual(task[0]!.delay_until.getTime());
    expect(Number(wait.rows[0].duration_ms)).toBeCloseTo(task[0]!.completed_at.getTime() - task[0]!.created_at.getTime(), 0);
    expect(Number(wait.rows[0].duration_ms)).toBeGreaterThan(500);
  });

  it("event_deliveries shows each ingested event, the runs it started and its dedupes", async () => {
    const { rows } = await asAuditor((c) => c.query("select * from audit.event_deliveries order by received_at"));
    const seed = rows.find((r) => r.event_id === "audit-user-1");
    expect(seed.run_ids).toEqual([seedRunId]);
    expect(seed.received_by).toMatch(/^api_key:/);
    const delayed = rows.find((r) => r.event_id === "audit-delayed");
    expect(delayed).toMatchObject({ run_count: 0, dedupes: 1, delivered_at: null });
    // the payload as first received (the resend's payload is in its event.updated event)
    expect(delayed.payload).toEqual({ userId: "later", waitSeconds: 1 });
  });

  it("api_activity says which key did what and when, by key hint only", async () => {
    const { rows } = await asAuditor((c) => c.query("select * from audit.api_activity order by position"));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => /^tr_dev_.{4}…$/.test(r.key_hint))).toBe(true);
    expect(rows.some((r) => r.route === "POST /api/v1/events" && r.type === "event.received")).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(e2e.server.apiKeys.dev);
  });

  it("the auditor can select the audit views and nothing else: no writes, no baton.* tables", async () => {
    await asAuditor(async (c) => {
      for (const view of ["run_timeline", "task_attempts", "event_deliveries", "api_activity", "events"]) {
        await c.query(`select count(*) from audit.${view}`);
      }
      for (const sql of [
        "select * from baton.events limit 1",
        "select * from baton.runs limit 1",
        "select * from baton.tasks limit 1",
        "select * from baton.environments limit 1",
        "select * from graphile_worker._private_jobs limit 1",
        "insert into baton.events (stream_id, version, type) values ('x', 1, 'run.created')",
        "insert into audit.run_timeline (run_id) values ('x')",
        "update audit.api_activity set key_hint = 'x'",
        "delete from audit.events",
        "create table audit.mine (id int)",
        "create table public.mine (id int)",
      ]) {
        await expect(c.query(sql), sql).rejects.toThrow(/permission denied|cannot (insert|update|delete)|not updatable|does not exist/);
      }
    });
  });

  it("answers the example questions of docs/AUDIT.md (sample output saved under test-artifacts/)", async () => {
    const out: string[] = [];
    for (const [question, sql] of Object.entries(QUESTIONS)) {
      const { rows, fields } = await asAuditor((c) => c.query(sql, sql.includes("$1") ? [seedRunId] : []));
      expect(rows.length, question).toBeGreaterThan(0);
      const cells = rows.map((r) => fields.map((f) => {
        const v = r[f.name];
        return v instanceof Date ? v.toISOString() : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "");
      }));
      const widths = fields.map((f, i) => Math.max(f.name.length, ...cells.map((c) => c[i]!.length)));
      const line = (values: string[]) => ` ${values.map((v, i) => v.padEnd(widths[i]!)).join(" | ")}`.trimEnd();
      out.push(`## ${question}`, "```sql", sql.trim(), "```", "```", line(fields.map((f) => f.name)), ` ${widths.map((w) => "-".repeat(w)).join("-+-")}`, ...cells.map(line), `(${rows.length} rows)`, "```", "");
    }
    const dir = path.resolve(import.meta.dirname, "../../../../test-artifacts");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "audit-sample.md"), out.join("\n"));
  });
});
