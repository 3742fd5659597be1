import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../src/testing";
import { oneJobIndex, startHandWrittenEndpoint } from "./support";

let server: TestServer;
let endpoint: { url: string; close(): Promise<void> };
let version = "1.0";

beforeAll(async () => {
  server = await startTestServer();
  // a hand-written endpoint: the SDK refuses bad versions itself
  endpoint = await startHandWrittenEndpoint(() => oneJobIndex({ id: "odd-version", name: "Odd version", version, events: ["odd"] }));
});
afterAll(async () => {
  await endpoint?.close();
  await server?.close();
});

async function register(): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.url}/api/v1/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.apiKeys.dev}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "hand-written", url: endpoint.url }),
  });
  return { status: r.status, body: await r.json() };
}

describe("indexing an endpoint", () => {
  it("refuses a job version that is not x.y.z with a 4xx naming the job, and indexes nothing", async () => {
    version = "1.0";
    const r = await register();
    expect(r.status).toBe(422);
    expect(r.body.error.message).toContain('odd-version has "1.0"');
    const { rows } = await server.pool.query("select count(*)::int as n from baton.jobs");
    expect(rows[0].n).toBe(0);
  });

  it("keeps the highest version as latest by number, not by string (1.10.0 > 1.9.0)", async () => {
    version = "1.10.0";
    expect((await register()).status).toBe(200);
    version = "1.9.0";
    expect((await register()).status).toBe(200);
    const { rows } = await server.pool.query("select current_version, latest_version from baton.jobs where slug = 'odd-version'");
    expect(rows[0]).toEqual({ current_version: "1.9.0", latest_version: "1.10.0" });
  });
});
