/**
 * `POST /api/v1/events/bulk` takes at most `maxBulkEvents` events (`BATON_MAX_BULK_EVENTS`, default 5,000). One bulk
 * request is one transaction, so it used to take any number of events the body size allowed (tens of thousands of
 * small ones within 10 MiB), all in one statement. Beyond the limit the request is refused whole, naming the field,
 * and nothing is written.
 */
import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../src/testing";
import { startE2E, type E2E } from "./e2e/helpers";
import { rowCounts } from "./support";

let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E(
    (client) => {
      client.defineJob({ id: "bulked", name: "Bulked", version: "1.0.0", trigger: eventTrigger({ name: "bulked.run" }), run: async () => "ok" });
    },
    { server: await startTestServer({ maxBulkEvents: 3 }) },
  );
}, 60_000);
afterAll(async () => e2e?.close());

describe("POST /api/v1/events/bulk", () => {
  it("refuses more events than maxBulkEvents with 422 naming `events`, and writes nothing", async () => {
    const before = await rowCounts(e2e.server.pool);
    const events = Array.from({ length: 4 }, (_, i) => ({ name: "bulked.run", payload: { i } }));
    const r = await e2e.api("POST", "/api/v1/events/bulk", { events });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("validation_failed");
    expect(r.body.error.message).toContain("events");
    expect(r.body.error.message).toContain("at most 3");
    expect(r.body.error.details).toEqual([{ path: "events", message: expect.stringContaining("got 4") }]);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });

  it("takes a bulk of exactly maxBulkEvents", async () => {
    const events = Array.from({ length: 3 }, (_, i) => ({ name: "bulked.run", payload: { i }, id: `bulk-ok-${i}` }));
    const r = await e2e.api("POST", "/api/v1/events/bulk", { events });
    expect(r.status).toBe(200);
    expect(r.body.map((e: { id: string }) => e.id)).toEqual(["bulk-ok-0", "bulk-ok-1", "bulk-ok-2"]);
  });
});
