import { eventTrigger, TriggerClient } from "@baton/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../src/db/postgres";
import { createTestDatabase } from "../../src/testing";
import { spawnServer, type ServerProcess } from "./processes";

const DEV_KEY = "tr_dev_concurrencytest01234";
const ENV = { BATON_API_KEY: DEV_KEY, BATON_SECRET: "concurrency-test-secret-0123" };

let db: { connectionString: string; drop(): Promise<void> };
let pool: pg.Pool;
const servers: ServerProcess[] = [];
let endpoint: { url: string; close(): Promise<void> };
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.connectionString });
  const port = await findFreePort();
  servers.push(
    ...(await Promise.all([
      spawnServer(db.connectionString, { ...ENV, PORT: String(port) }),
      spawnServer(db.connectionString, ENV),
      spawnServer(db.connectionString, ENV),
    ])),
  );
  const client = new TriggerClient({ id: "limited-app", apiKey: DEV_KEY, apiUrl: servers[0]!.url });
  client.defineJob({
    id: "limited",
    name: "Limited",
    version: "1.0.0",
    concurrencyLimit: 2,
    trigger: eventTrigger({ name: "limited.run" }),
    run: async (_payload, io) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await io.runTask("work", async () => {
          await new Promise((r) => setTimeout(r, 40));
          return "ok";
        });
        return "done";
      } finally {
        inFlight--;
      }
    },
  });
  endpoint = await client.listen({ port: 0 });
  const r = await fetch(`${servers[0]!.url}/api/v1/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "limited-app", url: endpoint.url }),
  });
  expect(r.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await endpoint?.close();
  await Promise.all(servers.map((s) => s.stop()));
  await pool?.end();
  await db?.drop();
});

describe("concurrency limits", () => {
  it("never admit more than concurrencyLimit executing runs across three server processes", async () => {
    let maxExecuting = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from baton.runs where status = 'EXECUTING'");
        maxExecuting = Math.max(maxExecuting, rows[0]!.n);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const events = Array.from({ length: 50 }, (_, i) => ({ name: "limited.run", payload: { i }, id: `limited-${i}` }));
    const r = await fetch(`${servers[1]!.url}/api/v1/events/bulk`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    expect(r.status).toBe(200);
    const deadline = Date.now() + 60_000;
    let done = 0;
    while (Date.now() < deadline) {
      const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from baton.runs where status = 'SUCCESS'");
      done = rows[0]!.n;
      if (done === 50) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    sampling = false;
    await sampler;
    expect(done).toBe(50);
    expect(maxExecuting).toBeLessThanOrEqual(2);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    expect(maxInFlight).toBe(2); // the limit is reached, not just respected
    const { rows: workers } = await pool.query<{ n: number }>(
      "select count(distinct data->>'workerId')::int as n from baton.events where type = 'run.started'",
    );
    expect(workers[0]!.n).toBeGreaterThan(1); // several processes really took part
  });
});
