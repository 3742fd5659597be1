import { eventTrigger, invokeTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Hits, startE2E, type E2E } from "./e2e/helpers";
import { apiRoutes, expectEnvelope, Gates, rawRequest, rowCounts, until } from "./support";

const hits = new Hits();
const gates = new Gates();
let e2e: E2E;
/** A finished run and one of its tasks, for the task callback routes. */
let doneRun = { id: "", taskId: "" };

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "person",
      name: "Person",
      version: "1.0.0",
      trigger: eventTrigger({ name: "person.created", schema: z.object({ id: z.string(), age: z.number().int() }) }),
      run: async (payload, io) => {
        hits.hit(`run:${String(payload.id)}`);
        return await io.runTask("greet", async () => ({ hello: payload.id, age: payload.age }));
      },
    });
    client.defineJob({
      id: "gated",
      name: "Gated",
      version: "1.0.0",
      trigger: eventTrigger({ name: "gated" }),
      run: async (_payload, io) =>
        await io.runTask("slow", async () => {
          hits.hit("slow");
          await gates.wait("slow");
          return 1;
        }),
    });
    client.defineJob({ id: "invoke-me", name: "Invoke me", version: "1.0.0", trigger: invokeTrigger(), run: async () => "ok" });
  });
  const event = await e2e.sendEvent("person.created", { id: "p0", age: 1 });
  const [runId] = await e2e.waitForRuns(event.id);
  const run = await e2e.waitForRun(runId!);
  expect(run.status).toBe("SUCCESS");
  doneRun = { id: run.id, taskId: run.tasks[0].id };
});
afterAll(async () => e2e?.close());

describe("a payload that fails the job's schema", () => {
  it("ends INVALID_PAYLOAD with the paths of the issues, never calls run(), refuses continue with 409, and a valid event runs after it", async () => {
    const event = await e2e.sendEvent("person.created", { id: 1, age: "x" }, { id: "bad-person" });
    const [runId] = await e2e.waitForRuns(event.id);
    const run = await e2e.waitForRun(runId!);
    expect(run.status).toBe("INVALID_PAYLOAD");
    expect(run.error.message).toMatch(/invalid payload/i);
    const paths = (run.error.issues as Array<{ path: unknown; message: string }>).map((e) => (Array.isArray(e.path) ? e.path.join(".") : e.path));
    expect(paths).toEqual(expect.arrayContaining(["id", "age"]));
    expect(hits.of("run:1")).toBe(0);
    expect(run.tasks).toEqual([]);

    const before = await rowCounts(e2e.server.pool);
    const continued = await e2e.api("POST", `/api/v1/runs/${runId}/continue`);
    expectEnvelope({ ...continued, text: JSON.stringify(continued.body) }, 409, "continue of an INVALID_PAYLOAD run");
    expect(continued.body.error.message).toMatch(/INVALID_PAYLOAD/);
    expect(continued.body.error.message).toMatch(/schema|payload/);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
    expect((await e2e.getRun(runId!)).status).toBe("INVALID_PAYLOAD");

    const good = await e2e.sendEvent("person.created", { id: "p1", age: 30 });
    const [goodRun] = await e2e.waitForRuns(good.id);
    const done = await e2e.waitForRun(goodRun!);
    expect(done.status, JSON.stringify(done.error)).toBe("SUCCESS");
    expect(done.output).toEqual({ hello: "p1", age: 30 });
    expect(hits.of("run:p1")).toBe(1);
  });
});

/** Every POST route of the router, as `path` (hono's own list). */
const POST_ROUTES = apiRoutes()
  .filter((r) => r.method === "POST")
  .map((r) => r.path);

/** For each POST route that reads a body: a wrongly typed body and the issue paths it must name. `null`: no body. */
const WRONG_TYPES: Record<string, { body: unknown; paths: string[] } | null> = {
  "/api/v1/events": { body: { event: { name: 5, id: 7 }, options: { deliverAfter: "soon" } }, paths: ["event.name", "event.id", "options.deliverAfter"] },
  "/api/v1/events/bulk": { body: { events: [{ name: "ok" }, { name: false }] }, paths: ["events.1.name"] },
  "/api/v1/events/:id/cancel": null,
  "/api/v1/endpoints": { body: { id: "x", url: 42 }, paths: ["url"] },
  "/api/v1/endpoints/:id/index": null,
  "/api/v1/jobs/:jobId/invoke": { body: { payload: {}, options: { callbackUrl: 3 } }, paths: ["options.callbackUrl"] },
  "/api/v1/runs/:runId/cancel": null,
  "/api/v1/runs/:runId/continue": null,
  "/api/v1/runs/:runId/rerun": null,
  "/api/v1/runs/:runId/tasks": { body: { idempotencyKey: "k", noop: "yes", delayUntil: "not a date" }, paths: ["noop", "delayUntil"] },
  "/api/v1/runs/:runId/tasks/:taskId/complete": { body: { output: "1", properties: "none" }, paths: ["properties"] },
  "/api/v1/runs/:runId/tasks/:taskId/fail": { body: { error: { message: 12 } }, paths: ["error.message"] },
  "/api/v1/runs/:runId/tasks/report": {
    body: { startedTasks: [{ id: "task-made-up", idempotencyKey: "k", startedAt: "2026-01-01T00:00:00Z" }], completedTasks: "x" },
    paths: ["startedTasks.0.id", "completedTasks"],
  },
};

function concrete(path: string): string {
  return path
    .replace(":runId", doneRun.id)
    .replace(":taskId", doneRun.taskId)
    .replace(":jobId", "invoke-me")
    .replace(":id", path.startsWith("/api/v1/endpoints") ? e2e.client.id : "no-such-event");
}

describe.each(POST_ROUTES)("POST %s with bad input", (path) => {
  it("answers 400/422 in the envelope with the issue paths, never 500, and writes nothing", async () => {
    expect(path in WRONG_TYPES, `add ${path} to WRONG_TYPES`).toBe(true);
    const spec = WRONG_TYPES[path];
    if (!spec) return; // the route takes no body
    const before = await rowCounts(e2e.server.pool);
    const post = (body: string) =>
      rawRequest(e2e.server.url, "POST", concrete(path), {
        headers: { authorization: `Bearer ${e2e.server.apiKeys.dev}`, "content-type": "application/json" },
        body,
      });
    for (const text of ["{not json", "", "[1,", "null", '"a string"', "[]", "42"]) {
      const r = await post(text);
      expect([400, 422], `${JSON.stringify(text)}: ${r.text}`).toContain(r.status);
      expectEnvelope(r, r.status, `body ${JSON.stringify(text)}`);
    }
    const notJson = await post("{not json");
    expectEnvelope(notJson, 400, "non-JSON body");
    expect(notJson.body.error.message).toMatch(/JSON/);
    const wrong = await post(JSON.stringify(spec.body));
    expectEnvelope(wrong, 422, "wrongly typed body");
    const paths = (wrong.body.error.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(spec.paths));
    for (const p of spec.paths) expect(wrong.body.error.message).toContain(p);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });
});

describe("size limits", () => {
  const big = (bytes: number) => "x".repeat(bytes);

  it("refuses an event over 512 KiB with 413 naming the limit, on /events, /events/bulk and invoke", async () => {
    const before = await rowCounts(e2e.server.pool);
    const limit = String(512 * 1024);
    const one = await e2e.api("POST", "/api/v1/events", { event: { name: "person.created", payload: { blob: big(513 * 1024) } } });
    expectEnvelope({ ...one, text: JSON.stringify(one.body) }, 413, "one big event");
    expect(one.body.error.message).toContain(limit);
    expect(one.body.error.details).toEqual({ limit: 512 * 1024 });
    const bulk = await e2e.api("POST", "/api/v1/events/bulk", { events: [{ name: "small" }, { name: "big", payload: big(600 * 1024) }] });
    expectEnvelope({ ...bulk, text: JSON.stringify(bulk.body) }, 413, "bulk with a big event");
    expect(bulk.body.error.message).toContain(limit);
    const invoke = await e2e.api("POST", "/api/v1/jobs/invoke-me/invoke", { payload: big(600 * 1024) });
    expectEnvelope({ ...invoke, text: JSON.stringify(invoke.body) }, 413, "big invoke payload");
    expect(invoke.body.error.message).toContain(limit);
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
    // just under the limit is accepted
    const fits = await e2e.api("POST", "/api/v1/events", { event: { name: "unrouted.event", payload: big(500 * 1024) } });
    expect(fits.status).toBe(200);
  });

  it("refuses a task output over 3 MiB with 413 naming the limit, never 500", async () => {
    const before = await rowCounts(e2e.server.pool);
    const limit = String(3 * 1024 * 1024);
    const output = JSON.stringify({ blob: big(3 * 1024 * 1024 + 10) });
    const complete = await e2e.api("POST", `/api/v1/runs/${doneRun.id}/tasks/${doneRun.taskId}/complete`, { output });
    expectEnvelope({ ...complete, text: JSON.stringify(complete.body) }, 413, "big task output");
    expect(complete.body.error.message).toContain(limit);
    expect(complete.body.error.details).toEqual({ limit: 3 * 1024 * 1024 });
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });

  it("refuses a big output piggybacked on a task creation (deferred completion) with 413, leaving the task RUNNING", async () => {
    const event = await e2e.sendEvent("gated", {});
    const [runId] = await e2e.waitForRuns(event.id);
    await until(async () => hits.of("slow"), (n) => n === 1, "the gated task body to start");
    // the endpoint started the task itself; its start reaches the server with the next flush
    const running = await until(() => e2e.getRun(runId!), (r) => r.tasks.length === 1, "the task's start to be reported");
    const task = running.tasks[0];
    expect(task.status).toBe("RUNNING");
    const before = await rowCounts(e2e.server.pool);
    const output = JSON.stringify({ blob: big(3 * 1024 * 1024 + 10) });
    const piggy = await e2e.api("POST", `/api/v1/runs/${runId}/tasks`, { idempotencyKey: "next", completedTasks: [{ id: task.id, output }] });
    expectEnvelope({ ...piggy, text: JSON.stringify(piggy.body) }, 413, "big piggybacked output");
    expect(piggy.body.error.message).toContain(String(3 * 1024 * 1024));
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
    expect((await e2e.getRun(runId!)).tasks[0].status).toBe("RUNNING");
    gates.open("slow");
    expect((await e2e.waitForRun(runId!)).status).toBe("SUCCESS");
  });
});

describe("out-of-range values", () => {
  it("a delivery time beyond what a date can hold is a 422 naming the option, never 500", async () => {
    const before = await rowCounts(e2e.server.pool);
    for (const options of [{ deliverAfter: 1e15 }, { deliverAfter: Number.MAX_SAFE_INTEGER }, { deliverAt: "not a date" }]) {
      const r = await rawRequest(e2e.server.url, "POST", "/api/v1/events", {
        headers: { authorization: `Bearer ${e2e.server.apiKeys.dev}`, "content-type": "application/json" },
        body: JSON.stringify({ event: { name: "far.future" }, options }),
      });
      expectEnvelope(r, 422, JSON.stringify(options));
      expect(r.body.error.details.map((d: { path: string }) => d.path)).toEqual([`options.${Object.keys(options)[0]}`]);
    }
    expect(await rowCounts(e2e.server.pool)).toEqual(before);
  });
});

describe("bad query strings on GET routes", () => {
  it("answer 4xx in the envelope with the parameter named, never 500", async () => {
    const cases: Array<[string, string]> = [
      ["/api/v1/runs?take=abc", "take"],
      ["/api/v1/runs?take=0", "take"],
      ["/api/v1/runs?status=BOGUS", "status"],
      [`/api/v2/runs/${doneRun.id}?asOf=abc`, "asOf"],
      [`/api/v2/runs/${doneRun.id}?asOf=99999999999999999999999`, "asOf"],
      [`/api/v2/runs/${doneRun.id}?subtasks=maybe`, "subtasks"],
      [`/api/v1/runs/${doneRun.id}/events?after=x`, "after"],
      [`/api/v1/runs/${doneRun.id}/events?after=99999999999999999999999`, "after"],
      [`/api/v1/runs/${doneRun.id}/events?take=100000`, "take"],
    ];
    for (const [path, param] of cases) {
      const r = await rawRequest(e2e.server.url, "GET", path, { headers: { authorization: `Bearer ${e2e.server.apiKeys.dev}` } });
      expect(r.status, `${path}: ${r.text}`).toBeGreaterThanOrEqual(400);
      expectEnvelope(r, r.status, path);
      expect(r.status, `${path}: ${r.text}`).toBeLessThan(500);
      expect(r.body.error.message, path).toContain(param);
    }
  });
});
