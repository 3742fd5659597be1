import { eventTrigger, TriggerClient } from "@baton/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../src/db/postgres";
import { createTestDatabase } from "../../src/testing";
import { Hits } from "./helpers";
import { spawnServer, type ServerProcess } from "./processes";

const DEV_KEY = "tr_dev_crashtest0123456789";
const ENV = { BATON_API_KEY: DEV_KEY, BATON_SECRET: "crash-test-secret-0123456789" };
// the SDK endpoint calls back one fixed API address, so the API process on it is restarted on the same port
let apiPort = 0;

let db: { connectionString: string; drop(): Promise<void> };
let pool: pg.Pool;
const servers: ServerProcess[] = [];
let endpoint: { url: string; close(): Promise<void> };
const hits = new Hits();
let blockFirst = true;
let enteredSlow: () => void = () => {};

async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json();
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

async function statusOf(runId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ status: string }>("select status from baton.runs where id = $1", [runId]);
  return rows[0]?.status;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.connectionString });
  apiPort = await findFreePort();
  servers.push(await spawnServer(db.connectionString, { ...ENV, PORT: String(apiPort) }));
  const client = new TriggerClient({ id: "crash-app", apiKey: DEV_KEY, apiUrl: servers[0]!.url });
  client.defineJob({
    id: "three-steps",
    name: "Three steps",
    version: "1.0.0",
    trigger: eventTrigger({ name: "crash.test" }),
    run: async (payload: { n: string }, io) => {
      await io.runTask("before", async () => hits.hit(`before:${payload.n}`));
      await io.runTask("slow", async () => {
        hits.hit(`slow:${payload.n}`);
        if (blockFirst) {
          blockFirst = false;
          enteredSlow();
          await new Promise(() => {}); // the first attempt hangs: its worker dies meanwhile
        }
      });
      await io.runTask("after", async () => hits.hit(`after:${payload.n}`));
      return "done";
    },
  });
  endpoint = await client.listen({ port: 0 });
  await api(servers[0]!.url, "POST", "/api/v1/endpoints", { id: "crash-app", url: endpoint.url });
}, 120_000);

afterAll(async () => {
  await endpoint?.close();
  for (const s of servers) if (s.child.exitCode === null) await s.kill9();
  await pool?.end();
  await db?.drop();
});

describe("a worker killed with SIGKILL loses nothing", () => {
  it("resumes the run within 5 s of the restart; bodies before the task ran once, that task twice, the ones after once", async () => {
    const entered = new Promise<void>((resolve) => (enteredSlow = resolve));
    const event = await api(servers[0]!.url, "POST", "/api/v1/events", { event: { name: "crash.test", payload: { n: "a" }, id: "crash-a" } });
    await entered;
    const [runId] = (await api(servers[0]!.url, "GET", `/api/v2/events/${event.id}`)).runs.map((r: { id: string }) => r.id);
    expect(await statusOf(runId)).toBe("EXECUTING");
    await servers[0]!.kill9();
    servers.push(await spawnServer(db.connectionString, { ...ENV, PORT: String(apiPort) }));
    const restartedAt = Date.now(); // the new process is up (booting tsx itself can take seconds on a loaded machine)
    await waitFor("SUCCESS", async () => ((await statusOf(runId)) === "SUCCESS" ? true : undefined), 20_000);
    const { rows } = await pool.query<{ occurred_at: Date }>(
      "select occurred_at from baton.events where stream_id = $1 and type = 'run.started' order by version desc limit 1",
      [runId],
    );
    expect(rows[0]!.occurred_at.getTime() - restartedAt).toBeLessThan(5_000);
    expect(hits.of("before:a")).toBe(1);
    expect(hits.of("slow:a")).toBe(2);
    expect(hits.of("after:a")).toBe(1);
    const types = (await pool.query<{ type: string }>("select type from baton.events where stream_id = $1 order by version", [runId])).rows.map((r) => r.type);
    expect(types).toContain("run.yielded");
  });

  it("is recovered by another live worker when its process dies", async () => {
    blockFirst = true;
    // the API address stays up (API only); two dispatcher processes execute runs; the one executing is killed
    await servers[1]!.stop();
    servers.push(await spawnServer(db.connectionString, { ...ENV, PORT: String(apiPort), BATON_DISPATCHER: "false" }));
    servers.push(await spawnServer(db.connectionString, ENV), await spawnServer(db.connectionString, ENV));
    const entered = new Promise<void>((resolve) => (enteredSlow = resolve));
    const live = servers[2]!;
    const event = await api(live.url, "POST", "/api/v1/events", { event: { name: "crash.test", payload: { n: "b" }, id: "crash-b" } });
    await entered;
    const [runId] = (await api(live.url, "GET", `/api/v2/events/${event.id}`)).runs.map((r: { id: string }) => r.id);
    const { rows } = await pool.query<{ executing_worker_id: string }>("select executing_worker_id from baton.runs where id = $1", [runId]);
    const { rows: owner } = await pool.query<{ pid: number }>("select pid from baton.workers where id = $1", [rows[0]!.executing_worker_id]);
    const victim = servers.find((s) => s.pid === owner[0]!.pid)!;
    await victim.kill9();
    const killedAt = Date.now();
    await waitFor("SUCCESS", async () => ((await statusOf(runId)) === "SUCCESS" ? true : undefined), 20_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(hits.of("before:b")).toBe(1);
    expect(hits.of("slow:b")).toBe(2);
    expect(hits.of("after:b")).toBe(1);
  });
});
