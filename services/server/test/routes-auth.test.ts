import { eventTrigger, invokeTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startE2E, type E2E } from "./e2e/helpers";
import { apiRoutes, expectEnvelope, rawRequest, rowCounts } from "./support";

const ROUTES = apiRoutes();

let e2e: E2E;
/** Ids of dev-environment things the routes take. */
const dev = { runId: "", taskId: "", eventId: "auth-evt-1", eventRecordId: "", delayedEventId: "auth-delayed", jobId: "auth-job", invokeJobId: "auth-invoke" };

/** The concrete path of a route, its params filled with ids of the dev environment. */
function concretePath(route: { path: string }): string {
  return route.path.replace(/:(\w+)/g, (_, name: string) => {
    switch (name) {
      case "runId":
        return dev.runId;
      case "taskId":
        return dev.taskId;
      case "jobId":
        return route.path.endsWith("/invoke") ? dev.invokeJobId : dev.jobId;
      case "id":
        if (route.path.startsWith("/api/v1/events/")) return dev.delayedEventId;
        if (route.path.startsWith("/api/v2/events/")) return dev.eventId;
        if (route.path.startsWith("/api/v1/endpoints/")) return e2e.client.id;
        throw new Error(`routes-auth: no id for :id in ${route.path}; add one`);
      default:
        throw new Error(`routes-auth: no value for :${name} in ${route.path}; add one`);
    }
  });
}

/** A body that is valid for the route, so that only the key is wrong. */
function validBody(route: { method: string; path: string }): unknown {
  if (route.method === "GET") return undefined;
  const bodies: Record<string, unknown> = {
    // ids of their own, so that what prod creates through these routes never shadows the dev ids used above
    "/api/v1/events": { event: { name: "auth.test", id: "auth-probe-1", payload: { n: 2 } } },
    "/api/v1/events/bulk": { events: [{ name: "auth.test", id: "auth-probe-2", payload: { n: 3 } }] },
    "/api/v1/events/:id/cancel": undefined,
    "/api/v1/endpoints": { id: "auth-probe-endpoint", url: e2e.endpointUrl },
    "/api/v1/endpoints/:id/index": undefined,
    "/api/v1/jobs/:jobId/invoke": { payload: { n: 1 } },
    "/api/v1/runs/:runId/cancel": undefined,
    "/api/v1/runs/:runId/continue": undefined,
    "/api/v1/runs/:runId/rerun": undefined,
    "/api/v1/runs/:runId/tasks": { idempotencyKey: "auth-new-task", displayKey: "auth-new-task", noop: false },
    "/api/v1/runs/:runId/tasks/:taskId/complete": { output: JSON.stringify({ x: 1 }) },
    "/api/v1/runs/:runId/tasks/:taskId/fail": { error: { message: "nope" } },
    "/api/v1/runs/:runId/tasks/report": { completedTasks: [] },
  };
  if (!(route.path in bodies)) throw new Error(`routes-auth: no valid body for ${route.method} ${route.path}; add one`);
  return bodies[route.path];
}

/** Rows of the dev environment: counts and latest change of every projection it owns. */
async function devFingerprint(): Promise<unknown> {
  const { rows } = await e2e.server.pool.query(
    `select
       (select json_build_object('n', count(*), 'at', max(updated_at)) from baton.runs where environment_id = 'env_dev') as runs,
       (select json_build_object('n', count(*), 'at', max(t.updated_at)) from baton.tasks t join baton.runs r on r.id = t.run_id where r.environment_id = 'env_dev') as tasks,
       (select json_build_object('n', count(*), 'at', max(updated_at)) from baton.event_records where environment_id = 'env_dev') as events,
       (select json_build_object('n', count(*), 'at', max(updated_at)) from baton.jobs where environment_id = 'env_dev') as jobs,
       (select json_build_object('n', count(*), 'at', max(updated_at)) from baton.endpoints where environment_id = 'env_dev') as endpoints`,
  );
  return rows[0];
}

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "auth-job",
      name: "Auth job",
      version: "1.0.0",
      trigger: eventTrigger({ name: "auth.test" }),
      run: async (_payload, io) => await io.runTask("t", async () => ({ ok: true })),
    });
    client.defineJob({
      id: "auth-invoke",
      name: "Auth invoke",
      version: "1.0.0",
      trigger: invokeTrigger(),
      run: async () => ({ ok: true }),
    });
  });
  const event = await e2e.sendEvent("auth.test", { n: 1 }, { id: dev.eventId });
  const { rows } = await e2e.server.pool.query<{ id: string }>("select id from baton.event_records where event_id = $1", [dev.eventId]);
  dev.eventRecordId = rows[0]!.id;
  const [runId] = await e2e.waitForRuns(event.id);
  const run = await e2e.waitForRun(runId!);
  expect(run.status).toBe("SUCCESS");
  dev.runId = run.id;
  dev.taskId = run.tasks[0].id;
  await e2e.sendEvent("auth.delayed", {}, { id: dev.delayedEventId, deliverAfter: 3600 });
});
afterAll(async () => e2e?.close());

describe("the router's own route list", () => {
  it("has every /api route of SPEC §5 and v2's task callbacks", () => {
    const ids = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(ids).toEqual(
      expect.arrayContaining([
        "POST /api/v1/events",
        "POST /api/v1/events/bulk",
        "POST /api/v1/events/:id/cancel",
        "GET /api/v2/events/:id",
        "POST /api/v1/endpoints",
        "POST /api/v1/jobs/:jobId/invoke",
        "GET /api/v1/runs",
        "GET /api/v2/runs/:runId",
        "GET /api/v1/runs/:runId/events",
        "POST /api/v1/runs/:runId/cancel",
        "POST /api/v1/runs/:runId/continue",
        "POST /api/v1/runs/:runId/rerun",
        "POST /api/v1/runs/:runId/tasks",
        "POST /api/v1/runs/:runId/tasks/:taskId/complete",
        "POST /api/v1/runs/:runId/tasks/:taskId/fail",
        "POST /api/v1/runs/:runId/tasks/report",
      ]),
    );
  });
});

describe.each(ROUTES)("$method $path", (route) => {
  const send = (authorization: string | undefined) => {
    const body = validBody(route);
    return rawRequest(e2e.server.url, route.method, concretePath(route), {
      headers: { "content-type": "application/json", ...(authorization !== undefined ? { authorization } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  };

  it("answers 401 in the error envelope without a key or with a malformed or unknown one, and writes nothing", async () => {
    const before = await rowCounts(e2e.server.pool);
    const cases: Array<[string, string | undefined]> = [
      ["no Authorization header", undefined],
      ["an empty header", ""],
      ["Bearer with no key", "Bearer "],
      ["an unknown key", "Bearer nope"],
      ["a valid key without the Bearer scheme", e2e.server.apiKeys.dev],
      ["another scheme", `Basic ${e2e.server.apiKeys.dev}`],
      ["a key of the right shape that does not exist", "Bearer tr_dev_doesnotexist0000000000000"],
    ];
    for (const [what, header] of cases) expectEnvelope(await send(header), 401, what);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });

  it("never lets the prod key see or touch the dev environment", async () => {
    const before = await rowCounts(e2e.server.pool);
    const devBefore = await devFingerprint();
    const response = await send(`Bearer ${e2e.server.apiKeys.prod}`);
    if (route.path.includes(":")) {
      // a dev id in the path: unknown in prod (404), and nothing written anywhere
      expectEnvelope(response, 404, "prod key on a dev id");
      expect(await rowCounts(e2e.server.pool)).toEqual(before);
    } else {
      // no id: prod works on its own (empty) environment; nothing of dev's shows or changes
      expect(response.status, response.text).toBeLessThan(500);
      for (const id of [dev.runId, dev.taskId, dev.eventRecordId]) expect(response.text).not.toContain(id);
      if (route.method === "GET") {
        expect(response.status, response.text).toBe(200);
        const list = response.body.runs ?? response.body.jobs;
        expect(list, response.text).toEqual([]);
      }
    }
    expect(await devFingerprint()).toEqual(devBefore);
  });
});

describe("the prod environment is separate", () => {
  it("dedupes event ids per environment: prod's event with dev's id is its own and starts no dev run", async () => {
    const prod = e2e.server.apiKeys.prod;
    expect((await e2e.api("GET", `/api/v2/events/${dev.eventId}`, undefined, prod)).status).toBe(404);
    const sent = await e2e.api("POST", "/api/v1/events", { event: { name: "auth.test", id: dev.eventId, payload: { n: 9 } } }, prod);
    expect(sent.status).toBe(200);
    expect(sent.body.payload).toEqual({ n: 9 });
    const prodEvent = await e2e.api("GET", `/api/v2/events/${dev.eventId}`, undefined, prod);
    expect(prodEvent.body.runs).toEqual([]); // prod has no jobs
    const devEvent = await e2e.api("GET", `/api/v2/events/${dev.eventId}`);
    expect(devEvent.body.payload).toEqual({ n: 1 });
    expect(devEvent.body.runs.map((x: { id: string }) => x.id)).toEqual([dev.runId]);
  });
});

describe("the same requests with the dev key", () => {
  // proves the ids above are real: the prod key's 404 comes from the environment, not from a wrong path
  it.each(ROUTES.filter((r) => r.path.includes(":")))("$method $path finds the dev resource", async (route) => {
    const body = validBody(route);
    const r = await rawRequest(e2e.server.url, route.method, concretePath(route), {
      headers: { "content-type": "application/json", authorization: `Bearer ${e2e.server.apiKeys.dev}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    expect(r.status, r.text).not.toBe(404);
    expect(r.status, r.text).toBeLessThan(500);
  });
});
