/**
 * Input that JSON and JavaScript allow but Postgres cannot store (a NUL character, a lone UTF-16 surrogate, nesting
 * deeper than anything can serialize, a date whose ISO form has a 6-digit year) is refused at the door with a 4xx in
 * the error envelope, on every route, and nothing is written. It used to reach Postgres and come back as a 500.
 */
import { connect } from "node:net";
import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startE2E, type E2E } from "./e2e/helpers";
import { apiRoutes, expectEnvelope, rawRequest, rowCounts } from "./support";

let e2e: E2E;
let runId = "";

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "unstorable",
      name: "Unstorable",
      version: "1.0.0",
      trigger: eventTrigger({ name: "unstorable.run" }),
      run: async (_payload, io) => {
        await io.wait("w", 3600);
      },
    });
  });
  const event = await e2e.sendEvent("unstorable.run", {}, { id: "unstorable-1" });
  runId = (await e2e.waitForRuns(event.id))[0]!;
  await e2e.waitForRun(runId, ["WAITING_TO_CONTINUE"]);
}, 60_000);
afterAll(async () => e2e?.close());

const headers = (): Record<string, string> => ({ authorization: `Bearer ${e2e.server.apiKeys.dev}`, "content-type": "application/json" });

/** Every POST route of the API that reads a body (cancel, continue, rerun and index take none), params filled. */
function postRoutes(): string[] {
  return apiRoutes()
    .filter((r) => r.method === "POST" && !/\/(cancel|continue|rerun|index)$/.test(r.path))
    .map((r) => r.path.replace(":runId", runId).replace(":taskId", "task_x").replace(":jobId", "unstorable").replace(":id", "unstorable-1"));
}

function nested(depth: number): string {
  return `${"[".repeat(depth)}1${"]".repeat(depth)}`;
}

describe("input Postgres cannot store", () => {
  // JSON texts: escapes are written out so the bodies are exactly what a client would send
  const bodies: Array<[string, string]> = [
    ["a NUL in a value", '{"event":{"name":"unstorable.run","payload":{"a":"x\\u0000y"}}}'],
    ["a NUL in a key", '{"event":{"name":"unstorable.run","payload":{"a\\u0000":1}}}'],
    ["a NUL in the event name", '{"event":{"name":"zz.\\u0000x"}}'],
    ["a lone high surrogate", '{"event":{"name":"unstorable.run","payload":{"a":"\\ud800"}}}'],
    ["a lone low surrogate", '{"events":[{"name":"unstorable.run","payload":{"a":"x\\udfffy"}}]}'],
    ["nesting 5,000 deep", `{"event":{"name":"unstorable.run","payload":${nested(5000)}}}`],
    ["nesting 100,000 deep", `{"event":{"name":"unstorable.run","payload":${nested(100_000)}}}`],
  ];

  it("is refused on every POST route with a 4xx envelope naming where it is, and nothing is written", async () => {
    const before = await rowCounts(e2e.server.pool);
    for (const route of postRoutes()) {
      for (const [what, body] of bodies) {
        const r = await rawRequest(e2e.server.url, "POST", route, { headers: headers(), body });
        expectEnvelope(r, 422, `${what} on ${route}`);
      }
    }
    const r = await rawRequest(e2e.server.url, "POST", "/api/v1/events", { headers: headers(), body: bodies[0]![1] });
    expect(r.body.error.message).toContain("event.payload.a");
    expect(r.body.error.details).toEqual([expect.objectContaining({ path: "event.payload.a" })]);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
    expect((await rawRequest(e2e.server.url, "GET", "/healthz")).status).toBe(200);
  });

  it("refuses dates beyond year 9999 (a 6-digit ISO year) with 422 naming the field", async () => {
    const before = await rowCounts(e2e.server.pool);
    for (const [route, body] of [
      ["/api/v1/events", { event: { name: "unstorable.run", timestamp: "+099999-01-01T00:00:00Z" } }],
      ["/api/v1/events", { event: { name: "unstorable.run" }, options: { deliverAt: "+099999-01-01T00:00:00Z" } }],
      ["/api/v1/events/bulk", { events: [{ name: "unstorable.run", timestamp: "+099999-01-01T00:00:00Z" }] }],
      [`/api/v1/runs/${runId}/tasks`, { idempotencyKey: "late", displayKey: "late", noop: true, delayUntil: "+099999-01-01T00:00:00Z" }],
    ] as const) {
      const r = await rawRequest(e2e.server.url, "POST", route, { headers: headers(), body: JSON.stringify(body) });
      expectEnvelope(r, 422, `${route} ${JSON.stringify(body)}`);
      expect(r.body.error.message).toContain("9999");
    }
    const bad = await rawRequest(e2e.server.url, "POST", "/api/v1/events", {
      headers: headers(),
      body: JSON.stringify({ event: { name: "unstorable.run", timestamp: "not a date" } }),
    });
    expectEnvelope(bad, 422, "a timestamp that is no date");
    expect(bad.body.error.message).toContain("event.timestamp: must be a date");
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });

  it("refuses a NUL (%00) anywhere in the URL, API and dashboard, with 400", async () => {
    for (const path of [
      "/api/v1/runs?cursor=%00",
      "/api/v1/runs?jobId=%00",
      "/api/v2/events/a%00b",
      `/api/v2/runs/${runId}%00`,
      "/runs/a%00b",
      "/runs?cursor=%00",
    ]) {
      const r = await rawRequest(e2e.server.url, "GET", path, { headers: headers() });
      expectEnvelope(r, 400, path);
    }
    expect((await rawRequest(e2e.server.url, "GET", "/healthz")).status).toBe(200);
  });

  it("answers requests node's HTTP parser refuses in the error envelope too (400, 431)", async () => {
    const { port } = new URL(e2e.server.url);
    const send = (raw: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1", () => socket.end(raw));
        let answer = "";
        socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
      });
    const cases: Array<[string, string, number]> = [
      ["a negative Content-Length", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
      ["a Content-Length that is no number", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400],
      ["bad chunked framing", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400],
      ["a 20 KB header", `GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${"k".repeat(20_000)}\r\n\r\n`, 431],
    ];
    for (const [what, raw, status] of cases) {
      const answer = await send(raw);
      expect(answer.split("\r\n")[0], what).toBe(`HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}`);
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { error: { code: string; message: string } };
      expect(body.error.code, what).toBe("bad_request");
      expect(body.error.message, what).toContain("malformed HTTP request");
    }
    expect((await rawRequest(e2e.server.url, "GET", "/healthz")).status).toBe(200);
  });
});
