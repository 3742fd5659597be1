/**
 * A run created while every execution slot of the process is taken waits in that process's in-memory dispatch queue
 * (`run.queued {workerId}`, `baton.runs.queued_worker_id`) instead of getting an outbox job. These tests show that it
 * runs once a slot frees, and that nothing is lost when the process stops (the runs go back to the outbox) or dies
 * (another process's recovery queues them again).
 */
import { eventTrigger, TriggerClient } from "@baton/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../src/db/postgres";
import { createTestDatabase, startTestServer, type TestServer } from "../../src/testing";
import { Gates, graphileJobs, until } from "../support";
import { Hits } from "./helpers";
import { spawnServer, type ServerProcess } from "./processes";

const DEV_KEY = "tr_dev_localqueue0123456789";
const SECRET = "local-queue-secret-0123456789";

let db: { connectionString: string; drop(): Promise<void> };
let pool: pg.Pool;
const hits = new Hits();
const gates = new Gates();

function defineJobs(client: TriggerClient): void {
  client.defineJob({
    id: "gated",
    name: "Gated",
    version: "1.0.0",
    trigger: eventTrigger({ name: "gated.run" }),
    run: async (payload: { n: string }, io) => {
      await io.runTask("work", async () => {
        hits.hit(`work:${payload.n}`);
        await gates.wait(payload.n);
      });
      await io.runTask("after", async () => hits.hit(`after:${payload.n}`));
      return payload.n;
    },
  });
}

async function send(url: string, n: string): Promise<string> {
  const r = await fetch(`${url}/api/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ event: { name: "gated.run", payload: { n }, id: `lq-${n}` } }),
  });
  expect(r.status).toBe(200);
  return await until(
    async () => (await pool.query<{ id: string }>("select r.id from baton.runs r join baton.event_records e on e.id = r.event_record_id where e.event_id = $1", [`lq-${n}`])).rows[0]?.id,
    (id) => id !== undefined,
    `the run of lq-${n}`,
  ) as string;
}

async function runRow(runId: string): Promise<{ status: string; queued_worker_id: string | null; executing_worker_id: string | null }> {
  const { rows } = await pool.query("select status, queued_worker_id, executing_worker_id from baton.runs where id = $1", [runId]);
  return rows[0];
}

async function queuedEvents(runId: string): Promise<unknown[]> {
  const { rows } = await pool.query<{ data: unknown }>("select data from baton.events where stream_id = $1 and type = 'run.queued' order by version", [runId]);
  return rows.map((r) => r.data);
}

async function register(url: string, endpointUrl: string): Promise<void> {
  const r = await fetch(`${url}/api/v1/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "lq-app", url: endpointUrl }),
  });
  expect(r.status, await r.text()).toBe(200);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.connectionString });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("the in-memory dispatch queue", () => {
  let server: TestServer | undefined;
  let endpoint: { url: string; close(): Promise<void> } | undefined;
  afterAll(async () => {
    await endpoint?.close();
    await server?.close();
  });

  it("holds a run created while all slots are taken (no outbox job) and runs it when one frees", async () => {
    server = await startTestServer({ connectionString: db.connectionString, workerConcurrency: 1, devApiKey: DEV_KEY, secret: SECRET });
    const client = new TriggerClient({ id: "lq-app", apiKey: DEV_KEY, apiUrl: server.url });
    defineJobs(client);
    endpoint = await client.listen({ port: 0 });
    await register(server.url, endpoint.url);

    const first = await send(server.url, "a");
    await until(async () => hits.of("work:a"), (n) => n === 1, "run a in its task");
    const second = await send(server.url, "b");
    // the one slot is busy: b waits in this process's memory, QUEUED on this worker, with no outbox job
    expect(await runRow(second)).toEqual({ status: "QUEUED", queued_worker_id: server.workerId, executing_worker_id: null });
    expect(await graphileJobs(pool, `run:${second}`)).toEqual([]);
    expect(await queuedEvents(second)).toEqual([{ workerId: server.workerId }]);

    gates.open("a");
    gates.open("b");
    for (const runId of [first, second]) {
      await until(async () => (await runRow(runId)).status, (s) => s === "SUCCESS", `run ${runId} SUCCESS`);
    }
    // leaving QUEUED clears the holder
    expect((await runRow(second)).queued_worker_id).toBeNull();
    expect(hits.of("work:b")).toBe(1);
    // b's claim was staged and committed with the execution's answer: one transaction (the report flush of a task
    // that takes under 100 ms never came), the claim still dated when the execution began
    const { rows } = await pool.query<{ type: string; xid: string; occurred_at: Date }>(
      "select type, xmin::text as xid, occurred_at from baton.events where stream_id = $1 order by version",
      [second],
    );
    const started = rows.find((r) => r.type === "run.started")!;
    const succeeded = rows.find((r) => r.type === "run.succeeded")!;
    expect(rows.map((r) => r.type)).toEqual(["run.created", "run.queued", "run.started", "task.created", "task.created", "task.completed", "task.completed", "run.succeeded"]);
    expect(started.xid).toBe(succeeded.xid);
    expect(started.occurred_at.getTime()).toBeLessThanOrEqual(succeeded.occurred_at.getTime());
  });

  it("commits a held run's staged claim with its first task report, and a cancel meanwhile is final", async () => {
    const busy = await send(server!.url, "x");
    await until(async () => hits.of("work:x"), (n) => n === 1, "run x in its task");
    const held = await send(server!.url, "y");
    expect((await runRow(held)).queued_worker_id).toBe(server!.workerId);
    gates.open("x");
    // y starts executing under a staged claim; its task's start is reported within ~100 ms, which commits the claim
    await until(async () => hits.of("work:y"), (n) => n === 1, "run y in its task");
    await until(async () => (await runRow(held)).status, (s) => s === "EXECUTING", "run y EXECUTING");
    expect((await runRow(held)).queued_worker_id).toBeNull();
    const r = await fetch(`${server!.url}/api/v1/runs/${held}/cancel`, { method: "POST", headers: { authorization: `Bearer ${DEV_KEY}` } });
    expect(r.status).toBe(200);
    gates.open("y");
    await until(async () => (await runRow(busy)).status, (s) => s === "SUCCESS", "run x SUCCESS");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await runRow(held)).status).toBe("CANCELED");
    // the execution was hung up: the task after the gate never ran
    expect(hits.of("after:y")).toBe(0);
  });

  it("hands its runs back to the outbox when the process stops, and another process runs them", async () => {
    const third = await send(server!.url, "c");
    await until(async () => hits.of("work:c"), (n) => n === 1, "run c in its task");
    const fourth = await send(server!.url, "d");
    expect((await runRow(fourth)).queued_worker_id).toBe(server!.workerId);

    // stopping waits for run c's execution to end, but hands d back at once
    const closing = server!.close();
    await until(async () => (await runRow(fourth)).queued_worker_id, (w) => w === null, "d handed back");
    expect(await queuedEvents(fourth)).toEqual([{ workerId: server!.workerId }, { workerId: null, reason: "worker_stopped" }]);
    expect(await graphileJobs(pool, `run:${fourth}`)).toHaveLength(1);
    gates.open("c");
    await closing;
    await endpoint!.close();

    // a new process (the same database) takes d from the outbox
    server = await startTestServer({ connectionString: db.connectionString, devApiKey: DEV_KEY, secret: SECRET });
    const client = new TriggerClient({ id: "lq-app", apiKey: DEV_KEY, apiUrl: server.url });
    defineJobs(client);
    endpoint = await client.listen({ port: 0 });
    await register(server.url, endpoint.url);
    gates.open("d");
    await until(async () => (await runRow(fourth)).status, (s) => s === "SUCCESS", "run d SUCCESS", 20_000);
    expect(hits.of("work:d")).toBe(1);
    expect((await runRow(third)).status).toBe("SUCCESS");
  });
});

describe("a held run whose endpoint calls back another server process", () => {
  let executor: TestServer | undefined;
  let api: TestServer | undefined;
  let endpoint: { url: string; close(): Promise<void> } | undefined;
  afterAll(async () => {
    await endpoint?.close();
    await executor?.close();
    await api?.close();
  });

  // several processes behind one address: the endpoint's task reports of an execution may reach a process that did
  // not start it, while the executing process still holds the run's claim staged in its memory
  it("gets the staged claim committed by its holder, so the reports are applied and the run runs once", async () => {
    executor = await startTestServer({ connectionString: db.connectionString, workerConcurrency: 1, devApiKey: DEV_KEY, secret: SECRET });
    api = await startTestServer({ connectionString: db.connectionString, dispatcher: false, devApiKey: DEV_KEY, secret: SECRET });
    const client = new TriggerClient({ id: "lq-app", apiKey: DEV_KEY, apiUrl: api.url });
    defineJobs(client);
    endpoint = await client.listen({ port: 0 });
    await register(api.url, endpoint.url);

    const busy = await send(executor.url, "p");
    await until(async () => hits.of("work:p"), (n) => n === 1, "run p in its task");
    const held = await send(executor.url, "q");
    expect((await runRow(held)).queued_worker_id).toBe(executor.workerId);
    gates.open("p");
    // q executes under a claim staged in the executor; its task's start goes to the other process ~100 ms later
    await until(async () => hits.of("work:q"), (n) => n === 1, "run q in its task");
    // the report is applied right after the holder commits the claim (so the run is EXECUTING a moment before it)
    const running = await until(
      async () => (await pool.query<{ status: string }>("select status from baton.tasks where run_id = $1", [held])).rows,
      (rows) => rows.length > 0,
      "run q's reported task",
      5_000,
    );
    expect(running).toEqual([{ status: "RUNNING" }]);
    expect(await runRow(held)).toEqual({ status: "EXECUTING", queued_worker_id: null, executing_worker_id: executor.workerId });

    gates.open("q");
    for (const runId of [busy, held]) await until(async () => (await runRow(runId)).status, (s) => s === "SUCCESS", `run ${runId} SUCCESS`);
    expect([hits.of("work:q"), hits.of("after:q")]).toEqual([1, 1]);
    const { rows } = await pool.query<{ type: string }>("select type from baton.events where stream_id = $1 order by version", [held]);
    expect(rows.map((r) => r.type)).toEqual(["run.created", "run.queued", "run.started", "task.created", "task.created", "task.completed", "task.completed", "run.succeeded"]);
  });
});

describe("a process killed with SIGKILL while holding queued runs", () => {
  const servers: ServerProcess[] = [];
  const endpoints: Array<{ url: string; close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const e of endpoints) await e.close();
    for (const s of servers) if (s.child.exitCode === null) await s.kill9();
  });

  // `forgotten`: the killed worker's row is also gone from baton.workers (deleted by hand, or by another sweep), so
  // the peer finds it only as a worker that runs name and that does not exist
  it.each([
    { forgotten: false, names: ["e", "f"] },
    { forgotten: true, names: ["g", "h"] },
  ])("loses none of them: another process's recovery queues them again (row deleted: $forgotten)", async ({ forgotten, names }) => {
    const [first, second] = names as [string, string];
    const env = { BATON_API_KEY: DEV_KEY, BATON_SECRET: SECRET };
    // the SDK calls back one API address that stays up (API only); the victim executes with one slot; a third
    // process is the live peer that recovers
    const apiPort = await findFreePort();
    const api = await spawnServer(db.connectionString, { ...env, PORT: String(apiPort), BATON_DISPATCHER: "false" });
    const victim = await spawnServer(db.connectionString, { ...env, BATON_WORKER_CONCURRENCY: "1" });
    servers.push(api, victim, await spawnServer(db.connectionString, env));
    const client = new TriggerClient({ id: "lq-app", apiKey: DEV_KEY, apiUrl: api.url });
    defineJobs(client);
    const endpoint = await client.listen({ port: 0 });
    endpoints.push(endpoint);
    await register(api.url, endpoint.url);

    const running = await send(victim.url, first);
    await until(async () => hits.of(`work:${first}`), (n) => n === 1, `run ${first} in its task`);
    const held = await send(victim.url, second);
    const victimWorker = (await runRow(running)).executing_worker_id;
    expect(victimWorker).not.toBeNull();
    expect(await runRow(held)).toEqual({ status: "QUEUED", queued_worker_id: victimWorker, executing_worker_id: null });

    gates.open(second);
    await victim.kill9();
    if (forgotten) await pool.query("delete from baton.workers where id = $1", [victimWorker]);
    // the first run's execution hangs on its gate in this test process; the peer's retry runs it again
    gates.open(first);
    for (const runId of [running, held]) {
      await until(async () => (await runRow(runId)).status, (s) => s === "SUCCESS", `run ${runId} SUCCESS`, 20_000);
    }
    expect(await queuedEvents(held)).toEqual([{ workerId: victimWorker }, { workerId: null, reason: "worker_lost" }]);
    expect(hits.of(`work:${second}`)).toBe(1);
  });
});
