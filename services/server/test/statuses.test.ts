import { cronTrigger, eventTrigger, intervalTrigger, invokeTrigger, TriggerClient } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { BatonEventBody } from "@baton/core";
import { reduceRun } from "../src/projections/reducers";
import type { RunRow } from "../src/projections/rows";
import { startTestServer, type TestServer } from "../src/testing";
import { Hits, startE2E, TERMINAL, type E2E } from "./e2e/helpers";
import { graphileJobs, rawRequest, sleep, until } from "./support";

/** The run statuses of SPEC §7. */
const ALL_STATUSES = [
  "PENDING",
  "QUEUED",
  "EXECUTING",
  "WAITING_TO_CONTINUE",
  "WAITING_TO_EXECUTE",
  "SUCCESS",
  "FAILURE",
  "TIMED_OUT",
  "CANCELED",
  "INVALID_PAYLOAD",
] as const;

/** Total execution time of a run before TIMED_OUT: small, so one slow execution spends it (ms). */
const MAX_EXECUTION_MS = 2_000;

const hits = new Hits();
let server: TestServer;
let e2e: E2E;

beforeAll(async () => {
  server = await startTestServer({ maxExecutionTimePerRunMs: MAX_EXECUTION_MS });
  e2e = await startE2E(
    (client) => {
      client.defineJob({
        id: "ok",
        name: "Succeeds",
        version: "1.2.3",
        trigger: eventTrigger({ name: "st.ok" }),
        run: async (payload, io) =>
          await io.runTask("a", async () => {
            hits.hit("ok:a");
            return { echo: payload };
          }),
      });
      client.defineJob({
        id: "fails",
        name: "Fails",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.fail" }),
        run: async () => {
          throw new Error("user code failed");
        },
      });
      client.defineJob({
        id: "waits",
        name: "Waits",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.wait" }),
        run: async (_payload, io) => {
          await io.wait("w", 1);
          return "waited";
        },
      });
      client.defineJob({
        id: "yields",
        name: "Yields",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.yield" }),
        run: async (_payload, io) => {
          await io.runTask("before", async () => hits.hit("yield:before"));
          io.yield("y");
          return "after yield";
        },
      });
      client.defineJob({
        id: "slow",
        name: "Spends its execution time",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.slow" }),
        run: async (_payload, io) => {
          await io.runTask("slow", async () => {
            await sleep(MAX_EXECUTION_MS + 100);
          });
          io.yield("next");
          await io.runTask("never", async () => hits.hit("slow:never"));
        },
      });
      client.defineJob({
        id: "long-wait",
        name: "Waits long",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.longwait" }),
        run: async (_payload, io) => {
          await io.wait("w", 60);
        },
      });
      client.defineJob({
        id: "typed",
        name: "Typed payload",
        version: "1.0.0",
        trigger: eventTrigger({ name: "st.typed", schema: z.object({ id: z.string() }) }),
        run: async () => "never",
      });
      client.defineJob({
        id: "invoked",
        name: "Invoked",
        version: "1.0.0",
        trigger: invokeTrigger({ schema: z.object({ x: z.number() }) }),
        run: async (payload) => {
          hits.hit("invoked");
          return { x: payload.x };
        },
      });
      client.defineJob({
        id: "limited",
        name: "Concurrency limited",
        version: "1.0.0",
        concurrencyLimit: 2,
        trigger: eventTrigger({ name: "st.limited" }),
        run: async (_payload, io) =>
          await io.runTask("work", async () => {
            await sleep(250);
            return 1;
          }),
      });
    },
    { server, clientId: "status-app" },
  );
});
afterAll(async () => {
  await e2e?.close();
  await server?.close();
});

async function runOf(name: string, payload: unknown = {}): Promise<string> {
  const event = await e2e.sendEvent(name, payload);
  const [runId] = await e2e.waitForRuns(event.id);
  return runId!;
}

async function runEventTypes(runId: string): Promise<string[]> {
  const { rows } = await server.pool.query<{ type: string }>("select type from baton.events where stream_id = $1 order by version", [runId]);
  return rows.map((r) => r.type);
}

describe("run lifecycle", () => {
  it("SUCCESS, FAILURE, WAITING_TO_CONTINUE", async () => {
    const ok = await runOf("st.ok", { a: 1 });
    const fail = await runOf("st.fail");
    const wait = await runOf("st.wait");
    expect((await e2e.waitForRun(ok)).status).toBe("SUCCESS");
    const failed = await e2e.waitForRun(fail);
    expect(failed.status).toBe("FAILURE");
    expect(failed.error.message).toContain("user code failed");
    expect((await e2e.waitForRun(wait, ["WAITING_TO_CONTINUE", ...TERMINAL])).status).toBe("WAITING_TO_CONTINUE");
    expect((await e2e.waitForRun(wait)).status).toBe("SUCCESS");
  });

  it("WAITING_TO_EXECUTE after a yield, then the run continues in a new execution", async () => {
    const runId = await runOf("st.yield");
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("SUCCESS");
    expect(run.output).toBe("after yield");
    expect(hits.of("yield:before")).toBe(1);
    const types = await runEventTypes(runId);
    expect(types).toContain("run.yielded");
    expect(types.filter((t) => t === "run.started")).toHaveLength(2);
  });

  it("WAITING_TO_EXECUTE with backoff while the endpoint is down (transport failure)", async () => {
    const down = new TriggerClient({ id: "down-app", apiKey: server.apiKeys.dev, apiUrl: server.url });
    down.defineJob({ id: "down-job", name: "Endpoint down", version: "1.0.0", trigger: eventTrigger({ name: "st.down" }), run: async () => "never" });
    const endpoint = await down.listen({ port: 0 });
    expect((await e2e.api("POST", "/api/v1/endpoints", { id: down.id, url: endpoint.url })).status).toBe(200);
    await endpoint.close();
    const runId = await runOf("st.down");
    const types = await until(() => runEventTypes(runId), (t) => t.filter((x) => x === "run.execution_failed").length >= 2, "two transport failures");
    expect(types).not.toContain("run.failed");
    const run = await e2e.getRun(runId);
    expect(["WAITING_TO_EXECUTE", "EXECUTING"]).toContain(run.status);
    const { rows } = await server.pool.query<{ data: { retryAt: string }; occurred_at: Date }>(
      "select data, occurred_at from baton.events where stream_id = $1 and type = 'run.execution_failed' order by version",
      [runId],
    );
    // 500 ms × 1.5^n: the second retry waits longer than the first
    const delays = rows.map((r) => new Date(r.data.retryAt).getTime() - r.occurred_at.getTime());
    expect(delays[0]).toBeGreaterThanOrEqual(450);
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect((await e2e.api("POST", `/api/v1/runs/${runId}/cancel`)).status).toBe(200);
  });

  it("TIMED_OUT once the run's total execution time is spent; later tasks never run", async () => {
    const runId = await runOf("st.slow");
    const run = await e2e.waitForRun(runId);
    expect(run.status).toBe("TIMED_OUT");
    expect(hits.of("slow:never")).toBe(0);
    expect(await runEventTypes(runId)).toContain("run.timed_out");
  });

  it("CANCELED and INVALID_PAYLOAD", async () => {
    const waiting = await runOf("st.longwait");
    await e2e.waitForRun(waiting, ["WAITING_TO_CONTINUE"]);
    expect((await e2e.api("POST", `/api/v1/runs/${waiting}/cancel`)).status).toBe(200);
    expect((await e2e.getRun(waiting)).status).toBe("CANCELED");
    const typed = await runOf("st.typed", { id: 5 });
    expect((await e2e.waitForRun(typed)).status).toBe("INVALID_PAYLOAD");
  });
});

describe("rerun", () => {
  it("makes a new run of the same event on the same job version; nothing is cached", async () => {
    const first = await runOf("st.ok", { rerun: true });
    expect((await e2e.waitForRun(first)).status).toBe("SUCCESS");
    const before = hits.of("ok:a");
    const r = await e2e.api("POST", `/api/v1/runs/${first}/rerun`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.id).not.toBe(first);
    expect(r.body.rerunOf).toBe(first);
    const again = await e2e.waitForRun(r.body.id);
    expect(again.status).toBe("SUCCESS");
    expect(again.output).toEqual({ echo: { rerun: true } });
    expect(hits.of("ok:a")).toBe(before + 1);
    const { rows } = await server.pool.query<{ id: string; job_slug: string; job_version: string; payload: unknown }>(
      "select r.id, r.job_slug, r.job_version, e.payload from baton.runs r join baton.event_records e on e.id = r.event_record_id where r.id = any($1::text[])",
      [[first, r.body.id]],
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatchObject({ job_slug: "ok", job_version: "1.2.3", payload: { rerun: true } });
  });
});

describe("invoke", () => {
  const invoke = (body: unknown, key?: string) =>
    rawRequest(server.url, "POST", "/api/v1/jobs/invoked/invoke", {
      headers: { authorization: `Bearer ${server.apiKeys.dev}`, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    });

  it("starts a run of an invokeTrigger job; the same Idempotency-Key twice (or 10 times at once) gives one run", async () => {
    const first = await invoke({ payload: { x: 1 } }, "inv-1");
    const second = await invoke({ payload: { x: 2 } }, "inv-1");
    expect(first.status, first.text).toBe(200);
    expect(second.status, second.text).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const run = await e2e.waitForRun(first.body.id);
    expect(run.status).toBe("SUCCESS");
    expect(run.output).toEqual({ x: 1 });

    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => invoke({ payload: { x: 100 + i } }, "inv-burst")));
    for (const b of burst) expect(b.status, b.text).toBe(200);
    expect(new Set(burst.map((b) => b.body.id)).size).toBe(1);
    await e2e.waitForRun(burst[0]!.body.id);

    const { rows } = await server.pool.query<{ event_id: string; n: number }>(
      `select e.event_id, count(r.id)::int as n from baton.event_records e join baton.runs r on r.event_record_id = e.id
       where e.environment_id = 'env_dev' and e.event_id in ('inv-1', 'inv-burst') group by e.event_id order by e.event_id`,
    );
    expect(rows).toEqual([
      { event_id: "inv-1", n: 1 },
      { event_id: "inv-burst", n: 1 },
    ]);
    expect(hits.of("invoked")).toBe(2);
    // an event job cannot be invoked; an unknown one is 404
    expect((await e2e.api("POST", "/api/v1/jobs/ok/invoke", { payload: {} })).status).toBe(409);
    expect((await e2e.api("POST", "/api/v1/jobs/nope/invoke", { payload: {} })).status).toBe(404);
  });
});

describe("concurrencyLimit", () => {
  it("never has more than 2 runs EXECUTING while 10 run", async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => runOf("st.limited", { i })));
    let max = 0;
    let done = 0;
    const samples: number[] = [];
    while (done < ids.length) {
      const { rows } = await server.pool.query<{ executing: number; done: number }>(
        `select count(*) filter (where status = 'EXECUTING')::int as executing,
                count(*) filter (where status in ('SUCCESS', 'FAILURE', 'TIMED_OUT', 'CANCELED', 'INVALID_PAYLOAD'))::int as done
         from baton.runs where id = any($1::text[])`,
        [ids],
      );
      max = Math.max(max, rows[0]!.executing);
      samples.push(rows[0]!.executing);
      done = rows[0]!.done;
      await sleep(10);
    }
    expect(max, samples.join(",")).toBeLessThanOrEqual(2);
    expect(max, "the limit is used").toBe(2);
    for (const id of ids) expect((await e2e.getRun(id)).status).toBe("SUCCESS");
  });
});

describe("schedules", () => {
  it("an interval job has its next slot as a graphile job; cron at the next UTC match; re-indexing without it removes it", async () => {
    const defineSchedules = (client: TriggerClient, withInterval: boolean) => {
      if (withInterval) {
        client.defineJob({ id: "every-20s", name: "Every 20 s", version: "1.0.0", trigger: intervalTrigger({ seconds: 20 }), run: async () => "tick" });
      }
      client.defineJob({ id: "nightly", name: "Nightly", version: "1.0.0", trigger: cronTrigger({ cron: "0 0 * * *" }), run: async () => "night" });
    };
    const before = Date.now();
    const sched = await startE2E((client) => defineSchedules(client, true), { server, clientId: "sched-app" });
    const after = Date.now();
    try {
      const [interval] = await graphileJobs(server.pool, "schedule:env_dev:every-20s");
      expect(interval, "the interval's slot job").toBeDefined();
      expect(interval!.task_identifier).toBe("baton.schedule");
      expect(interval!.run_at.getTime()).toBeGreaterThanOrEqual(before + 20_000 - 1_000);
      expect(interval!.run_at.getTime()).toBeLessThanOrEqual(after + 20_000 + 1_000);
      const [cron] = await graphileJobs(server.pool, "schedule:env_dev:nightly");
      const midnight = new Date();
      midnight.setUTCHours(24, 0, 0, 0);
      expect(cron!.run_at.toISOString()).toBe(midnight.toISOString());

      // the same endpoint id served without the interval job
      const next = new TriggerClient({ id: "sched-app", apiKey: server.apiKeys.dev, apiUrl: server.url });
      defineSchedules(next, false);
      const endpoint = await next.listen({ port: 0 });
      try {
        const r = await e2e.api("POST", "/api/v1/endpoints", { id: "sched-app", url: endpoint.url });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(await graphileJobs(server.pool, "schedule:env_dev:every-20s")).toEqual([]);
        const { rows } = await server.pool.query<{ slug: string; enabled: boolean }>(
          "select slug, enabled from baton.jobs where slug in ('every-20s', 'nightly') order by slug",
        );
        expect(rows).toEqual([
          { slug: "every-20s", enabled: false },
          { slug: "nightly", enabled: true },
        ]);
        // the kept schedule keeps its slot
        const [cronAfter] = await graphileJobs(server.pool, "schedule:env_dev:nightly");
        expect(cronAfter!.run_at.toISOString()).toBe(midnight.toISOString());
      } finally {
        await endpoint.close();
      }
    } finally {
      await sched.close();
    }
  });
});

describe("every run status of SPEC §7", () => {
  it("is reached by a run in this file (folded from baton.events with the runs reducer)", async () => {
    await sleep(50);
    const { rows } = await server.pool.query<{ stream_id: string; version: number; type: string; data: unknown; occurred_at: Date }>(
      "select stream_id, version, type, data, occurred_at from baton.events where type like 'run.%' or type like 'task.%' or type = 'log.written' order by stream_id, version",
    );
    const reached = new Set<string>();
    const byRun = new Map<string, RunRow | undefined>();
    for (const e of rows) {
      const next = reduceRun(byRun.get(e.stream_id), { type: e.type, data: e.data, streamId: e.stream_id, version: e.version, occurredAt: e.occurred_at } as BatonEventBody & {
        streamId: string;
        version: number;
        occurredAt: Date;
      });
      byRun.set(e.stream_id, next);
      if (next) reached.add(next.status);
    }
    expect([...reached].sort()).toEqual([...ALL_STATUSES].sort());
  });
});
