/**
 * An in-process execution that fails on the server's side (here: its answer cannot be committed) is tried again in
 * this process a few times. A run claimed in its creation commit, held by the in-memory queue, or claimed from its
 * outbox job (the claim removes the job) has no job while its process lives, so when those tries run out the run must
 * be handed to the outbox, not left EXECUTING.
 */
import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../src/testing";
import { startE2E, type E2E } from "./e2e/helpers";
import { until } from "./support";

let e2e: E2E;
let executions = 0;

beforeAll(async () => {
  const server = await startTestServer({ localRetryAttempts: 2 });
  e2e = await startE2E(
    (client) => {
      client.defineJob({
        id: "answered",
        name: "answered",
        version: "1.0.0",
        trigger: eventTrigger({ name: "answered" }),
        run: async (_payload, io) => {
          executions++;
          return await io.runTask("only", async () => "done");
        },
      });
    },
    { server },
  );
  // while the table has a row, no run can succeed: the commit of every execution's answer fails
  await server.pool.query(`
    create table public.block_success (on_purpose boolean);
    create function public.block_success() returns trigger language plpgsql as $$
    begin
      if new.type = 'run.succeeded' and exists (select 1 from public.block_success) then
        raise exception 'run.succeeded blocked by the test';
      end if;
      return new;
    end $$;
    create trigger block_success before insert on baton.events for each row execute function public.block_success();
    insert into public.block_success values (true);`);
}, 60_000);
afterAll(async () => e2e?.close());

describe("an in-process execution that keeps failing", () => {
  it("is handed to the outbox once its in-process tries run out, and runs when the fault is gone", async () => {
    const event = await e2e.sendEvent("answered", {});
    const [runId] = await e2e.waitForRuns(event.id);
    const pool = e2e.server.pool;
    // 1 execution + 2 in-process tries, then the hand-over: `run.yielded {reason: execution_failed}` and a job
    const events = await until(
      async () =>
        (
          await pool.query<{ type: string; data: { reason?: string } }>(
            "select type, data from baton.events where stream_id = $1 and type in ('run.started', 'run.yielded') order by version",
            [runId],
          )
        ).rows,
      (rows) => rows.some((r) => r.data.reason === "execution_failed"),
      "the run handed to the outbox",
      20_000,
    );
    const handOver = events.findIndex((r) => r.data.reason === "execution_failed");
    expect(events.slice(0, handOver).filter((r) => r.type === "run.started")).toHaveLength(3);
    expect(executions).toBeGreaterThanOrEqual(3);

    // from the outbox job, graphile-worker's execution claims the run (removing the job) and fails the same way: it is
    // tried again in-process and handed over again, never left EXECUTING without a job, until the fault is gone
    await until(
      async () =>
        (await pool.query<{ n: string }>("select count(*) as n from baton.events where stream_id = $1 and type = 'run.yielded' and data->>'reason' = 'execution_failed'", [runId]))
          .rows[0]!.n,
      (n) => Number(n) >= 2,
      "a second hand-over after the outbox's execution failed too",
      20_000,
    );
    await pool.query("delete from public.block_success");
    const run = await e2e.waitForRun(runId!, undefined, 30_000);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toBe("done");
  });
});
