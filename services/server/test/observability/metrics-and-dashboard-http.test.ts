import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startE2E, type E2E } from "../e2e/helpers";
import { defineSeedLikeJob, type Outbox } from "./seed-like";

const outbox: Outbox = { sent: [] };
let e2e: E2E;

/** The value of the sample of `name` whose labels include `labels` (`k="v",...`) in a Prometheus text page. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const wanted = labels ? labels.split(",") : [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? "").split(",");
    if (wanted.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineSeedLikeJob(client, outbox);
    let calls = 0;
    client.defineJob({
      id: "flaky",
      name: "Flaky",
      version: "1.0.0",
      trigger: eventTrigger({ name: "flaky", schema: z.object({}) }),
      run: async (_p, io) =>
        io.runTask(
          "sync",
          async () => {
            calls += 1;
            if (calls === 1) throw new Error("boom");
            return 1;
          },
          { retry: { limit: 2, minTimeoutInMs: 50, maxTimeoutInMs: 50, factor: 1, randomize: false } },
        ),
    });
  });
});
afterAll(async () => e2e?.close());

describe("GET /metrics", () => {
  it("serves Prometheus text without auth: runs by status, queue depth, latencies, attempts, dispatcher errors", async () => {
    const a = await e2e.sendEvent("new.user", { userId: "m1", waitSeconds: 1 }, { id: "m-1" });
    const b = await e2e.sendEvent("new.user", { userId: "m2", waitSeconds: 3600 }, { id: "m-2" });
    const f = await e2e.sendEvent("flaky", {}, { id: "m-3" });
    const [ra] = await e2e.waitForRuns(a.id);
    const [rb] = await e2e.waitForRuns(b.id);
    const [rf] = await e2e.waitForRuns(f.id);
    await e2e.waitForRun(ra!);
    await e2e.waitForRun(rf!);
    await e2e.waitForRun(rb!, ["WAITING_TO_CONTINUE"]);

    const response = await fetch(`${e2e.server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(sample(text, "baton_runs", 'status="SUCCESS"')).toBe(2);
    expect(sample(text, "baton_runs", 'status="WAITING_TO_CONTINUE"')).toBe(1);
    expect(sample(text, "baton_runs", 'status="FAILURE"')).toBe(0);
    expect(text).toMatch(/^baton_queue_depth/m);
    // the 1-hour wait is a job scheduled in the future
    expect(sample(text, "baton_queue_scheduled")).toBeGreaterThanOrEqual(1);
    // seed run: 2 executions, long wait run: 1, flaky: 2 (the retry resumes the run) -> at least 5
    expect(sample(text, "baton_execution_duration_seconds_count", 'outcome="waiting"')).toBeGreaterThanOrEqual(3);
    expect(sample(text, "baton_execution_duration_seconds_count", 'outcome="succeeded"')).toBe(2);
    expect(sample(text, "baton_event_to_start_seconds_count")).toBe(3);
    expect(sample(text, "baton_task_attempts_total", 'outcome="RETRY_SCHEDULED"')).toBe(1);
    expect(sample(text, "baton_task_attempts_total", 'outcome="COMPLETED"')).toBeGreaterThanOrEqual(4);
    expect(sample(text, "baton_dispatcher_errors_total", 'kind="execution_failed"')).toBe(0);

    // a second scrape does not count the same events again
    const again = await (await fetch(`${e2e.server.url}/metrics`)).text();
    expect(sample(again, "baton_event_to_start_seconds_count")).toBe(3);
  });
});

describe("the dashboard over plain HTTP", () => {
  it("redirects every page to /login without a session, and keeps /api auth and its JSON errors", async () => {
    for (const path of ["/", "/runs", "/jobs", "/runs/run_x"]) {
      const r = await fetch(`${e2e.server.url}${path}`, { redirect: "manual" });
      expect(r.status, path).toBe(302);
      expect(r.headers.get("location"), path).toMatch(/^\/login/);
    }
    const post = await fetch(`${e2e.server.url}/runs/run_x/cancel`, { method: "POST", redirect: "manual" });
    expect(post.status).toBe(302);
    const forged = await fetch(`${e2e.server.url}/runs`, { redirect: "manual", headers: { cookie: "baton_session=v1.env_dev.99999999999999.AAAA" } });
    expect(forged.status).toBe(302);
    const api = await fetch(`${e2e.server.url}/api/v1/runs`);
    expect(api.status).toBe(401);
    expect((await api.json()).error.code).toBe("unauthorized");
    const unknown = await fetch(`${e2e.server.url}/nope`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("not_found");
  });

  it("logs in with a key (httpOnly, SameSite=Lax cookie) and rejects a wrong key", async () => {
    const bad = await fetch(`${e2e.server.url}/login`, { method: "POST", body: new URLSearchParams({ apiKey: "tr_dev_nope" }), redirect: "manual" });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${e2e.server.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ apiKey: e2e.server.apiKeys.prod, next: "/jobs" }),
      redirect: "manual",
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/jobs");
    const cookie = ok.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const session = cookie.split(";")[0]!;
    const runs = await fetch(`${e2e.server.url}/runs`, { headers: { cookie: session } });
    expect(runs.status).toBe(200);
    // the prod environment sees none of dev's runs, and cannot open them
    expect(await runs.text()).toContain("No runs match.");
    const [devRun] = await e2e.runsOf("m-1");
    expect((await fetch(`${e2e.server.url}/runs/${devRun}`, { headers: { cookie: session } })).status).toBe(404);
    const cancel = await fetch(`${e2e.server.url}/runs/${devRun}/cancel`, { method: "POST", headers: { cookie: session }, redirect: "manual" });
    expect(cancel.headers.get("location")).toContain("error=");
  });
});
