/**
 * Ingest reads an environment's jobs from a per-process cache (ctx.jobsCache); indexing invalidates it in the
 * process that indexed at once, and in every other process through `NOTIFY baton_jobs_changed`. An event sent right
 * after its job was indexed, through any process, starts a run.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../src/testing";
import { oneJobIndex, sleep, startHandWrittenEndpoint } from "./support";

const DEV_KEY = "tr_dev_jobscache0123456789";
let a: TestServer;
let b: TestServer;
let endpoint: { url: string; close(): Promise<void> };
let pool: pg.Pool;
/** the event names the hand-written endpoint's one job listens to (changed by re-indexing) */
let events = ["first"];

beforeAll(async () => {
  // no dispatcher: runs stay QUEUED, which is all these tests look at
  a = await startTestServer({ devApiKey: DEV_KEY, dispatcher: false });
  b = await startTestServer({ connectionString: a.connectionString, devApiKey: DEV_KEY, dispatcher: false });
  pool = new pg.Pool({ connectionString: a.connectionString });
  endpoint = await startHandWrittenEndpoint(() => oneJobIndex({ id: "cached-job", name: "Cached job", version: "1.0.0", events }));
}, 60_000);

afterAll(async () => {
  await endpoint?.close();
  await b?.close();
  await pool?.end();
  await a?.close();
});

async function call(server: TestServer, path: string, body: unknown): Promise<any> {
  const r = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  expect(r.status, JSON.stringify(json)).toBe(200);
  return json;
}

async function runsOf(eventId: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "select count(*)::int as n from baton.runs r join baton.event_records e on e.id = r.event_record_id where e.event_id = $1",
    [eventId],
  );
  return rows[0]!.n;
}

let seq = 0;
/** Sends `name` through `server`; resolves with the number of runs it started. */
async function send(server: TestServer, name: string): Promise<number> {
  const id = `jc-${++seq}`;
  await call(server, "/api/v1/events", { event: { name, payload: {}, id } });
  return await runsOf(id);
}

describe("the jobs cache of ingest", () => {
  it("is invalidated by indexing in the same process at once", async () => {
    // both processes have read (and cached) the environment's jobs: none yet
    expect(await send(a, "first")).toBe(0);
    expect(await send(b, "first")).toBe(0);
    await call(a, "/api/v1/endpoints", { id: "cache-app", url: endpoint.url });
    expect(await send(a, "first")).toBe(1);
  });

  it("is invalidated in the other processes by the indexing commit's notification", async () => {
    // b cached "no jobs" before a indexed; the notification reaches it within moments (never a stale forever)
    let started = 0;
    for (let i = 0; i < 40 && started === 0; i++) {
      started = await send(b, "first");
      if (started === 0) await sleep(50);
    }
    expect(started).toBe(1);

    // b caches the job as it is now; re-indexing through a moves it to another event
    expect(await send(b, "first")).toBe(1);
    events = ["second"];
    await call(a, "/api/v1/endpoints", { id: "cache-app", url: endpoint.url });
    let moved = false;
    for (let i = 0; i < 40 && !moved; i++) {
      moved = (await send(b, "second")) === 1;
      if (!moved) await sleep(50);
    }
    expect(moved).toBe(true);
    expect(await send(b, "first")).toBe(0);

    // b really serves from its cache: a change written behind its back (no notification, not a supported way to
    // change jobs) is not seen
    await pool.query("update baton.jobs set enabled = false where slug = 'cached-job'");
    expect(await send(b, "second")).toBe(1);
    await pool.query("update baton.jobs set enabled = true where slug = 'cached-job'");
  });

  it("still dedupes a resent event id (the first attempt presumes it new; the unique key catches the resend)", async () => {
    const first = await call(b, "/api/v1/events", { event: { name: "second", payload: { v: 1 }, id: "jc-dup" } });
    const again = await call(b, "/api/v1/events", { event: { name: "second", payload: { v: 2 }, id: "jc-dup" } });
    expect(again.id).toBe(first.id);
    expect(again.payload).toEqual({ v: 1 });
    expect(await runsOf("jc-dup")).toBe(1);
    const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from baton.event_records where event_id = 'jc-dup'");
    expect(rows[0]!.n).toBe(1);
  });
});
