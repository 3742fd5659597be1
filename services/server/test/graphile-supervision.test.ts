/**
 * graphile-worker shuts its worker pool down by itself on a fatal error (e.g. job completions it could not record after
 * its retries). The dispatcher then starts a new one: otherwise no outbox job (retries, resumptions, delayed events,
 * schedules, runs beyond the in-process queue) would run in this process again until it restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../src/testing";
import { sleep, until } from "./support";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

async function deliveredAt(eventId: string): Promise<Date | null | undefined> {
  const { rows } = await server.pool.query<{ delivered_at: Date | null }>("select delivered_at from baton.event_records where event_id = $1", [eventId]);
  return rows[0]?.delivered_at;
}

describe("graphile-worker supervision", () => {
  it("starts graphile-worker again when its pool stops by itself, and outbox jobs run again", async () => {
    const dispatcher = server.dispatcher!;
    const first = dispatcher.graphile.runner;
    // what graphile-worker does on a fatal error: its pool shuts down, and the runner's promise settles
    await first.stop("a fatal error of the pool");
    await until(async () => dispatcher.graphile.restarts, (n) => n >= 1, "graphile-worker started again", 10_000);
    expect(dispatcher.graphile.runner).not.toBe(first);

    // a delayed event is delivered by an outbox job (deliverEvent), which only graphile-worker runs
    const response = await fetch(`${server.url}/api/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.apiKeys.dev}`, "content-type": "application/json" },
      body: JSON.stringify({ event: { name: "supervision.check", id: "supervised-1", payload: {} }, options: { deliverAfter: 1 } }),
    });
    expect(response.status, await response.text()).toBe(200);
    expect(await deliveredAt("supervised-1")).toBeNull();
    const at = await until(() => deliveredAt("supervised-1"), (d) => d instanceof Date, "the delayed event delivered", 15_000);
    expect(at).toBeInstanceOf(Date);
  }, 30_000);

  it("a stop of the dispatcher is not a failure: graphile-worker is not started again", async () => {
    const restarts = server.dispatcher!.graphile.restarts;
    await server.dispatcher!.stop();
    await sleep(1_000);
    expect(server.dispatcher!.graphile.restarts).toBe(restarts);
  }, 10_000);
});
