/**
 * The real Trigger.dev v2 client (`@trigger.dev/sdk@2.3.19`, unchanged: only `apiUrl` and `apiKey` point at Baton)
 * running jobs against a Baton server: the seed "new-user" job (SPEC §10) and a job with retries, nested subtasks,
 * `io.logger` and `io.wait`. Served over node:http, registered with `POST /api/v1/endpoints`, triggered with the v2
 * client's own `sendEvent`.
 */
import { startTestServer, type TestServer } from "@baton/server/testing";
import { eventTrigger, TriggerClient, type IO, type TriggerIntegration } from "@trigger.dev/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { baton, serveV2, shape } from "./support";

// ---- the app's own data: users, sent mail and reports in schema `compat` of the test database
interface User {
  id: string;
  name: string;
  email: string;
}

const SCHEMA = `
  create schema compat;
  create table compat.users (id text primary key, name text not null, email text not null);
  create table compat.emails (id serial primary key, task_id text not null, "to" text not null, "from" text not null, subject text not null, html text not null, sent_at timestamptz not null default now());
  create table compat.reports (id serial primary key, user_id text not null, run_id text not null, emails_sent int not null, created_at timestamptz not null default now());
  insert into compat.users values ('u1', 'Ada Lovelace', 'ada@example.com'), ('u2', 'Alan Turing', 'alan@example.com');
`;

// ---- a small v2-style integration (authSource LOCAL, `cloneForRun`), used as `io.mailer.sendEmail(key, params)`
interface SendEmailParams {
  to: string;
  from: string;
  subject: string;
  html: string;
}

class Mailer implements TriggerIntegration {
  readonly id = "mailer";
  readonly metadata = { id: "mailer", name: "Mailer (Postgres outbox)" };
  readonly authSource = "LOCAL" as const;
  private io?: IO;
  private connectionKey?: string;
  constructor(private readonly pool: pg.Pool) {}

  cloneForRun(io: IO, connectionKey: string): Mailer {
    const clone = new Mailer(this.pool);
    clone.io = io;
    clone.connectionKey = connectionKey;
    return clone;
  }

  async sendEmail(key: string, params: SendEmailParams): Promise<{ id: number }> {
    if (!this.io) throw new Error("Mailer used outside a run");
    const io = this.io;
    return (await io.runTask(
      key,
      async (task) => {
        const { rows } = await this.pool.query<{ id: number }>(
          `insert into compat.emails (task_id, "to", "from", subject, html) values ($1, $2, $3, $4, $5) returning id`,
          [task.id, params.to, params.from, params.subject, params.html],
        );
        return { id: rows[0]!.id };
      },
      {
        name: "Send Email",
        icon: "mail",
        params,
        properties: [
          { label: "To", text: params.to },
          { label: "Subject", text: params.subject },
        ],
        connectionKey: this.connectionKey,
      } as Parameters<IO["runTask"]>[2],
    )) as { id: number };
  }
}

let server: TestServer;
let pool: pg.Pool;
let client: TriggerClient;
let endpoint: Awaited<ReturnType<typeof serveV2>>;
let api: ReturnType<typeof baton>;
const flakyCalls = new Map<string, number[]>();
const runIds: Record<string, string> = {};
const hits = new Map<string, number>();
const hit = (key: string): void => void hits.set(key, (hits.get(key) ?? 0) + 1);

/** Every call the v2 client makes to Baton (it uses the global fetch), to prove none of them was refused. */
interface Call {
  method: string;
  path: string;
  status: number;
  request?: string;
  response?: string;
}
const calls: Call[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  server = await startTestServer();
  pool = new pg.Pool({ connectionString: server.connectionString, max: 4 });
  await pool.query(SCHEMA);
  api = baton(server.url, server.apiKeys.dev);

  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await realFetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === new URL(server.url).origin) {
      const failed = response.status !== 200;
      calls.push({
        method: init?.method ?? "GET",
        path: url.pathname,
        status: response.status,
        ...(failed ? { request: String(init?.body ?? ""), response: await response.clone().text() } : {}),
      });
    }
    return response;
  };
  client = new TriggerClient({ id: "compat-v2", apiKey: server.apiKeys.dev, apiUrl: server.url });
  const mailer = new Mailer(pool);

  // (a) the seed job, SPEC §10
  client.defineJob({
    id: "new-user",
    name: "Run when a new user signs up",
    version: "0.0.1",
    trigger: eventTrigger({ name: "new.user", schema: z.object({ userId: z.string() }) }),
    integrations: { mailer },
    run: async (payload, io, ctx) => {
      const { rows } = await pool.query<User>("select * from compat.users where id = $1", [payload.userId]); // regular code
      const user = rows[0];
      if (!user) throw new Error(`User not found: ${payload.userId}`);
      await io.mailer.sendEmail("Welcome email", {
        to: user.email,
        from: "Baton <hello@baton.test>",
        subject: "Welcome!",
        html: `<p>Welcome, ${user.name}!</p>`,
      });
      await io.wait("wait", 1);
      return await io.runTask(
        "my-task",
        async () => {
          hit(`my-task:${payload.userId}`);
          const sent = await pool.query<{ n: number }>(`select count(*)::int as n from compat.emails where "to" = $1`, [user.email]);
          const { rows: report } = await pool.query<{ id: number }>(
            "insert into compat.reports (user_id, run_id, emails_sent) values ($1, $2, $3) returning id",
            [user.id, ctx.run.id, sent.rows[0]!.n],
          );
          return { userId: user.id, name: user.name, emailsSent: sent.rows[0]!.n, reportId: report[0]!.id };
        },
        { name: "My Task" },
      );
    },
  });

  // (b) retries, two levels of subtasks, logger, wait
  client.defineJob({
    id: "retry-subtasks",
    name: "Retries and subtasks",
    version: "1.0.0",
    trigger: eventTrigger({ name: "retry.subtasks", schema: z.object({ n: z.number() }) }),
    run: async (payload, io, ctx) => {
      await io.logger.info("starting", { n: payload.n });
      const flaky = await io.runTask(
        "flaky",
        async (task) => {
          const times = flakyCalls.get(ctx.run.id) ?? [];
          times.push(Date.now());
          flakyCalls.set(ctx.run.id, times);
          const call = times.length;
          if (call < 3) throw new Error(`flaky failure ${call}`);
          return { call, attempts: task.attempts };
        },
        { name: "Flaky", retry: { limit: 3, minTimeoutInMs: 100, factor: 1 } },
      );
      const tree = await io.runTask(
        "parent",
        async (_task, io) => {
          hit(`parent:${ctx.run.id}`);
          const child = await io.runTask(
            "child",
            async (_task, io) => {
              hit(`child:${ctx.run.id}`);
              const leaf = await io.runTask(
                "grandchild",
                async () => {
                  hit(`grandchild:${ctx.run.id}`);
                  return { leaf: payload.n * 2 };
                },
                { name: "Grandchild" },
              );
              return { child: leaf.leaf + 1 };
            },
            { name: "Child" },
          );
          return { parent: child.child + 1 };
        },
        { name: "Parent" },
      );
      await io.wait("pause", 1);
      await io.logger.info("done", { tree });
      return await io.runTask(
        "final",
        async () => {
          hit(`final:${ctx.run.id}`);
          return { flaky, tree, isRetry: ctx.run.isRetry };
        },
        { name: "Final" },
      );
    },
  });

  // (c) a subtask that keeps failing: its retries run out, the error propagates through its parent to the run
  client.defineJob({
    id: "subtask-failure",
    name: "A failing subtask",
    version: "1.0.0",
    trigger: eventTrigger({ name: "subtask.failure" }),
    run: async (_payload, io, ctx) => {
      await io.runTask(
        "parent",
        async (_task, io) => {
          await io.runTask(
            "child",
            async () => {
              hit(`failing-child:${ctx.run.id}`);
              throw new Error(`child failed (call ${hits.get(`failing-child:${ctx.run.id}`)})`);
            },
            { name: "Child", retry: { limit: 2, minTimeoutInMs: 50, factor: 1 } },
          );
        },
        { name: "Parent" },
      );
    },
  });

  endpoint = await serveV2(client);
  const registered = await api.api("POST", "/api/v1/endpoints", { id: client.id, url: endpoint.url });
  expect(registered.status, JSON.stringify(registered.body)).toBe(200);
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  await endpoint?.close();
  await pool?.end();
  await server?.close();
});

describe("the real v2 client (@trigger.dev/sdk 2.3.19) against Baton", () => {
  it("indexes both jobs from the v2 endpoint", async () => {
    const r = await api.api("GET", "/api/v1/jobs");
    expect(r.status).toBe(200);
    expect(r.body.jobs.map((j: { id: string }) => j.id)).toEqual(["new-user", "retry-subtasks", "subtask-failure"]);
  });

  it("runs the seed new-user job: email task, durable wait, My Task as the output", async () => {
    const event = await client.sendEvent({ name: "new.user", payload: { userId: "u1" } });
    expect(event.id).toBeTruthy();
    const [runId] = await api.runsOf(event.id);
    const waiting = await api.waitForRun(runId!, ["WAITING_TO_CONTINUE", "SUCCESS", "FAILURE"]);
    expect(waiting.status).toBe("WAITING_TO_CONTINUE");
    const run = await api.waitForRun(runId!);
    expect(run.status, JSON.stringify(run)).toBe("SUCCESS");
    expect(run.output).toMatchObject({ userId: "u1", name: "Ada Lovelace", emailsSent: 1, reportId: expect.any(Number) });
    expect(shape(run.tasks)).toEqual([
      { name: "Send Email", displayKey: "Welcome email", status: "COMPLETED" },
      { name: "wait", displayKey: "wait", status: "COMPLETED" },
      { name: "My Task", displayKey: "my-task", status: "COMPLETED" },
    ]);
    expect(run.tasks[2].output).toEqual(run.output);
    expect(run.tasks.every((t: { attempts?: number }) => t.attempts === undefined || t.attempts === 1)).toBe(true);
    expect(hits.get("my-task:u1")).toBe(1);
    runIds.newUser = runId!;
    runIds.newUserEvent = event.id;
    const mail = await pool.query(`select task_id, "to", subject, html from compat.emails where "to" = 'ada@example.com'`);
    expect(mail.rows).toEqual([{ task_id: run.tasks[0].id, to: "ada@example.com", subject: "Welcome!", html: "<p>Welcome, Ada Lovelace!</p>" }]);
  });

  it("fails the new-user run for an unknown user with `User not found: <id>`", async () => {
    const event = await client.sendEvent({ name: "new.user", payload: { userId: "nobody" } });
    const [runId] = await api.runsOf(event.id);
    const run = await api.waitForRun(runId!);
    expect(run.status).toBe("FAILURE");
    expect(run.error).toMatchObject({ name: "Error", message: "User not found: nobody" });
    expect(run.tasks).toEqual([]);
  });

  it("runs retries (3 attempts), two levels of subtasks, logs and a wait", async () => {
    const event = await client.sendEvent({ name: "retry.subtasks", payload: { n: 5 } });
    const [runId] = await api.runsOf(event.id);
    const run = await api.waitForRun(runId!);
    expect(run.status, JSON.stringify(run)).toBe("SUCCESS");
    expect(run.output).toEqual({ flaky: { call: 3, attempts: 3 }, tree: { parent: 12 }, isRetry: false });
    expect(shape(run.tasks)).toEqual([
      { name: "log", displayKey: null, status: "COMPLETED" },
      { name: "Flaky", displayKey: "flaky", status: "COMPLETED" },
      {
        name: "Parent",
        displayKey: "parent",
        status: "COMPLETED",
        subtasks: [
          {
            name: "Child",
            displayKey: "child",
            status: "COMPLETED",
            subtasks: [{ name: "Grandchild", displayKey: "grandchild", status: "COMPLETED" }],
          },
        ],
      },
      { name: "wait", displayKey: "pause", status: "COMPLETED" },
      { name: "log", displayKey: null, status: "COMPLETED" },
      { name: "Final", displayKey: "final", status: "COMPLETED" },
    ]);
    const flaky = run.tasks[1];
    expect(flaky.attempts).toBe(3);
    expect(flaky.output).toEqual({ call: 3, attempts: 3 });
    const times = flakyCalls.get(runId!)!;
    expect(times).toHaveLength(3);
    // retry: { minTimeoutInMs: 100, factor: 1 } -> the retries are scheduled 100 ms (± jitter) after each failure
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(50);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(50);
    runIds.retry = runId!;
    expect(run.tasks[2].output).toEqual({ parent: 12 });
    expect(run.tasks[2].subtasks[0].output).toEqual({ child: 11 });
    expect(run.tasks[2].subtasks[0].subtasks[0].output).toEqual({ leaf: 10 });
    for (const key of ["parent", "child", "grandchild", "final"]) expect(hits.get(`${key}:${runId}`), key).toBe(1);
  });

  it("fails a run whose subtask exhausts its retries, with the error on the subtask, its parent and the run", async () => {
    const event = await client.sendEvent({ name: "subtask.failure", payload: {} });
    const [runId] = await api.runsOf(event.id);
    const run = await api.waitForRun(runId!);
    expect(run.status).toBe("FAILURE");
    expect(run.error).toMatchObject({ name: "Error", message: "child failed (call 2)" });
    expect(hits.get(`failing-child:${runId}`)).toBe(2);
    expect(shape(run.tasks)).toEqual([
      { name: "Parent", displayKey: "parent", status: "ERRORED", subtasks: [{ name: "Child", displayKey: "child", status: "ERRORED" }] },
    ]);
    expect(run.tasks[0].error).toMatchObject({ message: "child failed (call 2)" });
    expect(run.tasks[0].subtasks[0]).toMatchObject({ attempts: 2, error: { message: "child failed (call 2)" } });
  });

  it("reads events and runs back through the v2 client's own API (its zod schemas parse Baton's answers)", async () => {
    const event = await client.getEvent(runIds.newUserEvent!);
    expect(event).toMatchObject({ id: runIds.newUserEvent, name: "new.user", runs: [{ id: runIds.newUser, status: "SUCCESS" }] });
    const run = await client.getRun(runIds.retry!, { subtasks: true });
    expect(run.status).toBe("SUCCESS");
    expect(run.output).toEqual({ flaky: { call: 3, attempts: 3 }, tree: { parent: 12 }, isRetry: false });
    expect(run.tasks.map((t) => t.name)).toEqual(["log", "Flaky", "Parent", "wait", "log", "Final"]);
    expect(run.tasks[2]!.subtasks?.[0]?.subtasks?.[0]?.name).toBe("Grandchild");
    const runs = await client.getRuns("new-user");
    expect(runs.runs.map((r) => r.status).sort()).toEqual(["FAILURE", "SUCCESS"]);
    expect((await client.getRun(runIds.newUser!)).tasks.map((t) => t.name)).toEqual(["Send Email", "wait", "My Task"]);
    const statuses = await client.getRunStatuses(runIds.newUser!);
    expect(statuses.run).toMatchObject({ id: runIds.newUser, status: "SUCCESS" });
  });

  it("never got a refused or failed answer from Baton", () => {
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
  });

  it("accepted every request Baton sent to the v2 endpoint", () => {
    const actions = new Set(endpoint.answers.map((a) => a.action));
    expect([...actions].sort()).toEqual(expect.arrayContaining(["EXECUTE_JOB", "INDEX_ENDPOINT"]));
    expect(endpoint.answers.filter((a) => a.status !== 200)).toEqual([]);
    const statuses = endpoint.answers.filter((a) => a.action === "EXECUTE_JOB").map((a) => (a.body as { status: string }).status);
    expect(statuses).toEqual(expect.arrayContaining(["SUCCESS", "ERROR", "RESUME_WITH_TASK", "RETRY_WITH_TASK"]));
  });
});
