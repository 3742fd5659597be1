import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Hits, startE2E, TERMINAL, type E2E } from "./e2e/helpers";
import { Gates, graphileJobs, sleep, until } from "./support";

const hits = new Hits();
const gates = new Gates();
let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "cancel-running",
      name: "Cancel while a task runs",
      version: "1.0.0",
      trigger: eventTrigger({ name: "cancel.running" }),
      run: async (_payload, io) => {
        await io.runTask("first", async () => {
          hits.hit("running:first");
          await gates.wait("running:first");
          return 1;
        });
        await io.runTask("second", async () => hits.hit("running:second"));
        return "done";
      },
    });
    client.defineJob({
      id: "cancel-early",
      name: "Cancel before the running task was reported",
      version: "1.0.0",
      trigger: eventTrigger({ name: "cancel.early" }),
      run: async (_payload, io) => {
        await io.runTask("first", async () => {
          hits.hit("early:first");
          await gates.wait("early:first");
          return 1;
        });
        await io.runTask("second", async () => hits.hit("early:second"));
        return "done";
      },
    });
    client.defineJob({
      id: "cancel-wait",
      name: "Cancel during a wait",
      version: "1.0.0",
      trigger: eventTrigger({ name: "cancel.wait" }),
      run: async (_payload, io) => {
        await io.wait("w", 2);
        await io.runTask("after", async () => hits.hit("wait:after"));
      },
    });
    client.defineJob({
      id: "cancel-retry",
      name: "Cancel during a retry backoff",
      version: "1.0.0",
      trigger: eventTrigger({ name: "cancel.retry" }),
      run: async (_payload, io) => {
        await io.runTask(
          "flaky",
          async () => {
            hits.hit("retry:flaky");
            throw new Error("boom");
          },
          { retry: { limit: 3, factor: 1, minTimeoutInMs: 1_500, maxTimeoutInMs: 1_500, randomize: false } },
        );
        await io.runTask("after", async () => hits.hit("retry:after"));
      },
    });
    client.defineJob({
      id: "race",
      name: "Cancel racing the last task",
      version: "1.0.0",
      trigger: eventTrigger({ name: "cancel.race", schema: z.object({ n: z.number() }) }),
      run: async (payload, io) =>
        await io.runTask("last", async () => {
          hits.hit(`race:${payload.n}`);
          await gates.wait(`race:${payload.n}`);
          return payload.n;
        }),
    });
  });
});
afterAll(async () => {
  for (const name of ["running:first"]) gates.open(name);
  await e2e?.close();
});

async function runEvents(runId: string): Promise<string[]> {
  const { rows } = await e2e.server.pool.query<{ type: string }>("select type from baton.events where stream_id = $1 order by version", [runId]);
  return rows.map((r) => r.type);
}

/** Graphile jobs of a run, by key or payload (an execution in flight has lost its key to cancel but still exists). */
async function jobsOfRun(runId: string): Promise<number> {
  const { rows } = await e2e.server.pool.query<{ n: number }>(
    "select count(*)::int as n from graphile_worker._private_jobs where key = $1 or payload->>'runId' = $2",
    [`run:${runId}`, runId],
  );
  return rows[0]!.n;
}

/** Asserts the run ended CANCELED for good: no execution job left, no run event after `run.canceled`, status unchanged. */
async function expectCanceledForGood(runId: string): Promise<void> {
  expect(await graphileJobs(e2e.server.pool, `run:${runId}`)).toEqual([]);
  await until(() => jobsOfRun(runId), (n) => n === 0, `no graphile job left for ${runId}`);
  const types = await runEvents(runId);
  const canceledAt = types.indexOf("run.canceled");
  expect(canceledAt, types.join(",")).toBeGreaterThan(0);
  expect(types.slice(canceledAt + 1).filter((t) => t.startsWith("run.")), types.join(",")).toEqual([]);
  expect((await e2e.getRun(runId)).status).toBe("CANCELED");
}

async function cancel(runId: string): Promise<{ status: number; body: any }> {
  return await e2e.api("POST", `/api/v1/runs/${runId}/cancel`);
}

describe("cancel is final", () => {
  it("during a running task: the task's late completion is ignored and later tasks never run", async () => {
    const event = await e2e.sendEvent("cancel.running", {});
    const [runId] = await e2e.waitForRuns(event.id);
    await until(async () => hits.of("running:first"), (n) => n === 1, "the first task body to start");
    // the endpoint started the task itself; its start reaches the server with the next flush
    await until(() => e2e.getRun(runId!), (run) => run.tasks.length === 1, "the task's start to be reported");
    const r = await cancel(runId!);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe("CANCELED");
    expect(r.body.tasks.map((t: { status: string }) => t.status)).toEqual(["CANCELED"]);
    gates.open("running:first");
    await expectCanceledForGood(runId!);
    await sleep(300);
    expect(hits.of("running:second")).toBe(0);
    const run = await e2e.getRun(runId!);
    expect(run.status).toBe("CANCELED");
    expect(run.tasks.map((t: { name: string; status: string }) => t.status)).toEqual(["CANCELED"]);
    // canceling again returns it unchanged; continue/cancel never resurrect anything by accident
    const again = await cancel(runId!);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("CANCELED");
  });

  it("before the endpoint reported the running task: the execution is hung up, later tasks never run, the task is kept as CANCELED", async () => {
    const event = await e2e.sendEvent("cancel.early", {});
    const [runId] = await e2e.waitForRuns(event.id);
    await until(async () => hits.of("early:first"), (n) => n === 1, "the first task body to start", 15_000, 1);
    const r = await cancel(runId!);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe("CANCELED");
    gates.open("early:first");
    // the task ran, so the event store records it: started (reported late) and canceled at once
    const run = await until(() => e2e.getRun(runId!), (x) => x.tasks.length === 1, "the task's late start to be recorded");
    expect(run.tasks.map((t: { displayKey: string; status: string }) => [t.displayKey, t.status])).toEqual([["first", "CANCELED"]]);
    await expectCanceledForGood(runId!);
    await sleep(300);
    expect(hits.of("early:second")).toBe(0);
    expect(await runEvents(runId!)).toEqual(expect.arrayContaining(["run.canceled", "task.created", "task.canceled"]));
  });

  it("during a wait: nothing runs when the wait comes due", async () => {
    const event = await e2e.sendEvent("cancel.wait", {});
    const [runId] = await e2e.waitForRuns(event.id);
    const waiting = await e2e.waitForRun(runId!, ["WAITING_TO_CONTINUE", ...TERMINAL]);
    expect(waiting.status).toBe("WAITING_TO_CONTINUE");
    const [timer] = await graphileJobs(e2e.server.pool, `run:${runId}`);
    expect(timer, "the wait's resume job").toBeDefined();
    const r = await cancel(runId!);
    expect(r.status).toBe(200);
    await expectCanceledForGood(runId!);
    await sleep(Math.max(0, timer!.run_at.getTime() - Date.now()) + 1_200);
    expect(hits.of("wait:after")).toBe(0);
    await expectCanceledForGood(runId!);
    expect((await runEvents(runId!)).filter((t) => t === "run.started")).toHaveLength(1);
  });

  it("during a retry backoff: the retry never runs", async () => {
    const event = await e2e.sendEvent("cancel.retry", {});
    const [runId] = await e2e.waitForRuns(event.id);
    const waiting = await e2e.waitForRun(runId!, ["WAITING_TO_CONTINUE", ...TERMINAL]);
    expect(waiting.status).toBe("WAITING_TO_CONTINUE");
    expect(hits.of("retry:flaky")).toBe(1);
    expect(await runEvents(runId!)).toContain("task.retry_scheduled");
    const [timer] = await graphileJobs(e2e.server.pool, `run:${runId}`);
    expect(timer, "the retry's job").toBeDefined();
    const r = await cancel(runId!);
    expect(r.status).toBe(200);
    await expectCanceledForGood(runId!);
    await sleep(Math.max(0, timer!.run_at.getTime() - Date.now()) + 1_200);
    expect(hits.of("retry:flaky")).toBe(1);
    expect(hits.of("retry:after")).toBe(0);
    await expectCanceledForGood(runId!);
  });

  it("50 races of cancel against the last task's completion each end in exactly one terminal status that never changes", async () => {
    const N = 50;
    const BATCH = 10; // races run 10 at a time so that a cancel's latency reflects the race, not a saturated process
    const race = async (n: number) => {
      const event = await e2e.sendEvent("cancel.race", { n }, { id: `race-${n}` });
      const [runId] = await e2e.waitForRuns(event.id);
      await until(async () => hits.of(`race:${n}`), (h) => h === 1, `race ${n} to enter its last task`, 20_000, 10);
      // vary who goes first: the cancel at once with the release, a little after it, or well before it
      const [response] = await Promise.all([
        (async () => {
          if (n % 3 === 1) await sleep(Math.random() * 20);
          return await cancel(runId!);
        })(),
        (async () => {
          if (n % 3 === 2) await sleep(20 + Math.random() * 60);
          gates.open(`race:${n}`);
        })(),
      ]);
      const run = await e2e.waitForRun(runId!);
      await until(() => jobsOfRun(runId!), (j) => j === 0, `the executions of race ${n} to finish`);
      return { n, runId: runId!, cancelStatus: response.status, cancelBody: response.body, status: run.status as string };
    };
    const outcomes: Array<Awaited<ReturnType<typeof race>>> = [];
    for (let from = 0; from < N; from += BATCH) {
      outcomes.push(...(await Promise.all(Array.from({ length: BATCH }, (_, i) => race(from + i)))));
    }
    await sleep(300);
    const { rows } = await e2e.server.pool.query<{ stream_id: string; type: string }>(
      `select stream_id, type from baton.events where stream_id = any($1::text[])
         and type in ('run.succeeded', 'run.failed', 'run.canceled', 'run.timed_out', 'run.invalid_payload')`,
      [outcomes.map((o) => o.runId)],
    );
    for (const o of outcomes) {
      const terminal = rows.filter((r) => r.stream_id === o.runId).map((r) => r.type);
      expect(terminal, `race ${o.n}`).toHaveLength(1);
      const now = await e2e.getRun(o.runId);
      expect(now.status, `race ${o.n} changed after ending`).toBe(o.status);
      if (o.cancelStatus === 200) {
        expect(o.status, `race ${o.n}: cancel answered 200`).toBe("CANCELED");
        expect(terminal).toEqual(["run.canceled"]);
      } else {
        expect(o.cancelStatus, `race ${o.n}: ${JSON.stringify(o.cancelBody)}`).toBe(409);
        expect(o.cancelBody.error.code).toBe("conflict");
        expect(o.status, `race ${o.n}`).toBe("SUCCESS");
        expect(terminal).toEqual(["run.succeeded"]);
        expect(now.output).toBe(o.n);
      }
      expect(hits.of(`race:${o.n}`), `race ${o.n}: the last task's body ran once`).toBe(1);
    }
    const canceled = outcomes.filter((o) => o.status === "CANCELED").length;
    console.info(`[cancel races] ${canceled} canceled, ${N - canceled} succeeded`);
    // both sides won some races, so the races were real
    expect(canceled).toBeGreaterThan(0);
    expect(canceled).toBeLessThan(N);
  });
});
