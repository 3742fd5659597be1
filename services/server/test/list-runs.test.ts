/**
 * `GET /api/v1/runs` pages with `cursor` (the `nextCursor` of the previous page). A cursor that names no run of the
 * caller's environment is refused with 422 naming the field; it used to be ignored, answering the first page as if
 * the cursor were valid (a client paging on would loop over the same runs).
 */
import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startE2E, type E2E } from "./e2e/helpers";

let e2e: E2E;
const runIds: string[] = [];

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "listed",
      name: "Listed",
      version: "1.0.0",
      trigger: eventTrigger({ name: "listed.run" }),
      run: async () => "done",
    });
  });
  for (let i = 0; i < 3; i++) {
    const event = await e2e.sendEvent("listed.run", { i });
    runIds.push((await e2e.waitForRuns(event.id))[0]!);
  }
}, 60_000);
afterAll(async () => e2e?.close());

describe("GET /api/v1/runs cursor", () => {
  it("pages through every run once, newest first, with nextCursor", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await e2e.api("GET", `/api/v1/runs?take=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      seen.push(...(r.body.runs as Array<{ id: string }>).map((run) => run.id));
      cursor = r.body.nextCursor as string | undefined;
      if (!cursor) break;
    }
    expect(seen).toEqual([...runIds].reverse());
  });

  it("refuses a cursor that names no run of this environment with 422 naming it, on both list routes", async () => {
    for (const path of ["/api/v1/runs?cursor=run_nosuchrun", "/api/v1/jobs/listed/runs?cursor=run_nosuchrun"]) {
      const r = await e2e.api("GET", path);
      expect(r.status, path).toBe(422);
      expect(r.body.error.message, path).toContain("cursor");
      expect(r.body.error.message, path).toContain("run_nosuchrun");
    }
    // a run of another environment is no cursor here either
    const prod = await e2e.api("GET", `/api/v1/runs?cursor=${runIds[0]}`, undefined, e2e.server.apiKeys.prod);
    expect(prod.status).toBe(422);
  });
});

// A query parameter the route does not know (a typo, `limit` for `take`) or one given twice used to be dropped
// silently: the client got a default-sized page, or one of its two values, and no sign of it.
describe("query parameters of the read routes", () => {
  it("refuses an unknown parameter with 422 naming it, on every route that reads a query", async () => {
    const runId = runIds[0]!;
    for (const [path, name] of [
      ["/api/v1/runs?limit=5", "limit"],
      ["/api/v1/jobs/listed/runs?take=2&limt=5", "limt"],
      [`/api/v2/runs/${runId}?subtask=false`, "subtask"],
      [`/api/v1/runs/${runId}/events?afterr=1`, "afterr"],
    ] as const) {
      const r = await e2e.api("GET", path);
      expect(r.status, path).toBe(422);
      expect(r.body.error.code, path).toBe("validation_failed");
      expect(r.body.error.message, path).toContain(name);
    }
  });

  it("refuses any query parameter on a route that reads none, with 422 naming it", async () => {
    const runId = runIds[0]!;
    for (const [method, path, name] of [
      ["GET", "/api/v1/jobs?take=5", "take"],
      ["GET", `/api/v2/runs/${runId}/statuses?take=5`, "take"],
      ["GET", "/api/v2/events/nope?subtasks=true", "subtasks"],
      ["POST", `/api/v1/runs/${runId}/cancel?force=true`, "force"],
    ] as const) {
      const r = await e2e.api(method, path);
      expect(r.status, path).toBe(422);
      expect(r.body.error.code, path).toBe("validation_failed");
      expect(r.body.error.message, path).toContain(name);
      expect(r.body.error.details, path).toEqual([{ path: name, message: expect.stringContaining("unknown field") }]);
    }
    // the run was not canceled by the refused request
    expect((await e2e.api("GET", `/api/v2/runs/${runId}`)).body.status).toBe("SUCCESS");
    // an empty query string names nothing; a route that does not exist is still a 404
    expect((await e2e.api("GET", "/api/v1/jobs?")).status).toBe(200);
    expect((await e2e.api("GET", "/api/v1/nope?take=5")).status).toBe(404);
  });

  it("refuses a parameter given twice with 422 naming it", async () => {
    const r = await e2e.api("GET", "/api/v1/runs?take=1&take=50");
    expect(r.status).toBe(422);
    expect(r.body.error.message).toContain("take");
  });

  it("still answers the parameters it knows", async () => {
    const r = await e2e.api("GET", "/api/v1/runs?take=2&status=SUCCESS");
    expect(r.status).toBe(200);
    expect(r.body.runs).toHaveLength(2);
    const run = await e2e.api("GET", `/api/v2/runs/${runIds[0]}?subtasks=true&taskdetails=false&take=5`);
    expect(run.status).toBe(200);
  });
});
