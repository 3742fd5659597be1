import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIRECT_DISPATCH_FALLBACK_MS } from "../src/commands/scheduling";
import { startE2E, type E2E } from "./e2e/helpers";

let e2e: E2E;
let executions = 0;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "yielding",
      name: "yielding",
      version: "1.0.0",
      trigger: eventTrigger({ name: "yielding" }),
      run: async (_payload, io) => {
        executions++;
        await io.runTask("first", async () => "one");
        // io.yield ends this execution with YIELD_EXECUTION: the next execution is due at once, while this
        // process may still be finishing the current one
        io.yield("after-first");
        return await io.runTask("second", async () => "two");
      },
    });
  });
});
afterAll(async () => e2e?.close());

describe("a wake-up of a run this process is executing", () => {
  // Race seen under load: an execution commits a next step due at once (a yield, an immediate retry), and the wake-up
  // arrives before the execution has returned; it used to be dropped and the run waited forever.
  it("is served when the current execution ends, not dropped", async () => {
    const event = await e2e.sendEvent("yielding", {});
    const [runId] = await e2e.waitForRuns(event.id);
    const run = await e2e.waitForRun(runId!);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toBe("two");
    expect(executions).toBe(2);
    const { rows } = await e2e.server.pool.query<{ type: string; occurred_at: Date }>(
      "select type, occurred_at from baton.events where stream_id = $1 and type in ('run.started', 'run.yielded') order by version",
      [runId],
    );
    expect(rows.map((r) => r.type)).toEqual(["run.started", "run.yielded", "run.started"]);
    // served by this process as soon as the first execution ended, not by the outbox fallback job later
    expect(rows[2]!.occurred_at.getTime() - rows[1]!.occurred_at.getTime()).toBeLessThan(DIRECT_DISPATCH_FALLBACK_MS);
  });
});
