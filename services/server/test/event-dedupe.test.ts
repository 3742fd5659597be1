import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startE2E, type E2E } from "./e2e/helpers";
import { graphileJobs, sleep, until } from "./support";

let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    for (const id of ["listener-a", "listener-b"]) {
      client.defineJob({
        id,
        name: id,
        version: "1.0.0",
        trigger: eventTrigger({ name: "order.placed" }),
        run: async (payload) => ({ seen: payload }),
      });
    }
  });
});
afterAll(async () => e2e?.close());

interface StoredEvent {
  id: string;
  payload: unknown;
  deliver_at: Date;
  delivered_at: Date | null;
  cancelled_at: Date | null;
  run_ids: string[];
}

async function records(eventId: string): Promise<StoredEvent[]> {
  const { rows } = await e2e.server.pool.query<StoredEvent>(
    "select id, payload, deliver_at, delivered_at, cancelled_at, run_ids from baton.event_records where environment_id = 'env_dev' and event_id = $1",
    [eventId],
  );
  return rows;
}

async function runsOfEvent(eventId: string): Promise<Array<{ id: string; job_slug: string }>> {
  const { rows } = await e2e.server.pool.query<{ id: string; job_slug: string }>(
    "select r.id, r.job_slug from baton.runs r join baton.event_records e on e.id = r.event_record_id where e.event_id = $1 order by r.job_slug",
    [eventId],
  );
  return rows;
}

const post = (body: unknown) => e2e.api("POST", "/api/v1/events", body);

describe("the same event id sent again", () => {
  it("twice in sequence: one event row, one run per listening job, both answers the original", async () => {
    const first = await post({ event: { name: "order.placed", id: "order-1", payload: { n: 1 } } });
    const second = await post({ event: { name: "order.placed", id: "order-1", payload: { n: 2 } } });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(first.body.payload).toEqual({ n: 1 });
    expect(await records("order-1")).toHaveLength(1);
    const ids = await e2e.waitForRuns("order-1", 2);
    expect(ids).toHaveLength(2);
    expect((await runsOfEvent("order-1")).map((r) => r.job_slug)).toEqual(["listener-a", "listener-b"]);
    for (const id of ids) expect((await e2e.waitForRun(id)).output).toEqual({ seen: { n: 1 } });
  });

  it("20 times concurrently: one event row, two runs, all 20 answers the one stored event", async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post({ event: { name: "order.placed", id: "order-burst", payload: { n: i } } })),
    );
    for (const r of responses) expect(r.status, JSON.stringify(r.body)).toBe(200);
    const stored = await records("order-burst");
    expect(stored).toHaveLength(1);
    for (const r of responses) {
      expect(r.body).toEqual(responses[0]!.body);
      expect(r.body.payload).toEqual(stored[0]!.payload);
    }
    await e2e.waitForRuns("order-burst", 2);
    await sleep(300); // a late duplicate would have created its runs by now
    const runs = await runsOfEvent("order-burst");
    expect(runs.map((r) => r.job_slug)).toEqual(["listener-a", "listener-b"]);
    const { rows } = await e2e.server.pool.query<{ n: number }>(
      "select count(*)::int as n from baton.events where stream_id = $1 and type = 'event.received'",
      [stored[0]!.id],
    );
    expect(rows[0]!.n).toBe(1);
  });
});

describe("delayed events (v2's rule)", () => {
  it("a resend within the window of a delivery 60 s away updates payload and deliverAt and starts no run", async () => {
    const first = await post({ event: { name: "order.placed", id: "order-later", payload: { v: 1 } }, options: { deliverAfter: 60 } });
    expect(first.status).toBe(200);
    const [before] = await records("order-later");
    expect(before!.delivered_at).toBeNull();
    const [jobBefore] = await graphileJobs(e2e.server.pool, `event:${before!.id}`);
    expect(jobBefore?.run_at.getTime()).toBe(before!.deliver_at.getTime());
    await sleep(20);
    const second = await post({ event: { name: "order.placed", id: "order-later", payload: { v: 2 } }, options: { deliverAfter: 90 } });
    expect(second.status).toBe(200);
    expect(second.body.payload).toEqual({ v: 2 });
    const after = await records("order-later");
    expect(after).toHaveLength(1);
    expect(after[0]!.payload).toEqual({ v: 2 });
    expect(after[0]!.deliver_at.getTime() - before!.deliver_at.getTime()).toBeGreaterThan(29_000);
    expect(new Date(second.body.deliverAt).getTime()).toBe(after[0]!.deliver_at.getTime());
    const jobs = await graphileJobs(e2e.server.pool, `event:${before!.id}`);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.run_at.getTime()).toBe(after[0]!.deliver_at.getTime());
    expect(after[0]!.run_ids).toEqual([]);
    expect(await runsOfEvent("order-later")).toEqual([]);
  });

  it("POST /api/v1/events/:id/cancel stops a delayed event: no run at its time", async () => {
    const sent = await post({ event: { name: "order.placed", id: "order-canceled", payload: {} }, options: { deliverAfter: 1 } });
    expect(sent.status).toBe(200);
    const [record] = await records("order-canceled");
    const canceled = await e2e.api("POST", "/api/v1/events/order-canceled/cancel");
    expect(canceled.status, JSON.stringify(canceled.body)).toBe(200);
    expect(canceled.body.cancelledAt).not.toBeNull();
    expect(await graphileJobs(e2e.server.pool, `event:${record!.id}`)).toEqual([]);
    // past the due time (and a poll of the worker), still nothing
    await sleep(Math.max(0, record!.deliver_at.getTime() - Date.now()) + 1_200);
    const [after] = await records("order-canceled");
    expect(after!.delivered_at).toBeNull();
    expect(after!.cancelled_at).not.toBeNull();
    expect(await runsOfEvent("order-canceled")).toEqual([]);
    // a resend of a canceled id returns it and creates nothing
    const again = await post({ event: { name: "order.placed", id: "order-canceled", payload: { x: 1 } } });
    expect(again.status).toBe(200);
    expect(again.body.cancelledAt).not.toBeNull();
    expect(await runsOfEvent("order-canceled")).toEqual([]);
    // unknown id: 404 in the envelope
    const unknown = await e2e.api("POST", "/api/v1/events/no-such-event/cancel");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("not_found");
  });

  it("deliverAfter 1 s delivers about 1 s later, one run per job", async () => {
    const sentAt = Date.now();
    const sent = await post({ event: { name: "order.placed", id: "order-1s", payload: { soon: true } }, options: { deliverAfter: 1 } });
    expect(sent.status).toBe(200);
    expect(sent.body.deliveredAt).toBeNull();
    expect(await runsOfEvent("order-1s")).toEqual([]);
    // a resend while delivery is less than 5 s away returns the original and changes nothing (v2's rule)
    const resent = await post({ event: { name: "order.placed", id: "order-1s", payload: { soon: false } }, options: { deliverAfter: 30 } });
    expect(resent.status).toBe(200);
    expect(resent.body).toEqual(sent.body);
    const delivered = await until(() => records("order-1s"), (r) => r[0]?.delivered_at != null, "delivery", 10_000);
    const lag = delivered[0]!.delivered_at!.getTime() - sentAt;
    expect(lag).toBeGreaterThanOrEqual(950);
    expect(lag).toBeLessThan(3_000);
    const ids = await e2e.waitForRuns("order-1s", 2);
    for (const id of ids) expect((await e2e.waitForRun(id)).output).toEqual({ seen: { soon: true } });
    expect(await runsOfEvent("order-1s")).toHaveLength(2);
  });
});
