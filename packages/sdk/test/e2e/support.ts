import { eventTrigger, type IO, type TriggerClient } from "../../src/index";
import type { E2E } from "../../../../services/server/test/e2e/helpers";

/** Defines a job triggered by the event of the same name; `run` gets the raw payload. */
export function defineTestJob(client: TriggerClient, id: string, run: (payload: any, io: IO) => Promise<unknown>): void {
  client.defineJob({ id, name: id, version: "1.0.0", trigger: eventTrigger({ name: id }), run: (payload, io) => run(payload, io) });
}

/** Sends the event `name` and returns the id of the one run it starts. */
export async function startRun(e2e: E2E, name: string, payload: Record<string, unknown> = {}): Promise<string> {
  const event = await e2e.sendEvent(name, payload);
  const [runId] = await e2e.waitForRuns(event.id);
  return runId!;
}

/** Every task of a run's tree, depth first in creation order. */
export function flattenTasks(tasks: readonly any[]): any[] {
  return tasks.flatMap((t) => [t, ...flattenTasks(t.subtasks ?? [])]);
}

/** The run's event types, in order (GET /api/v1/runs/:id/events). */
export async function runEvents(e2e: E2E, runId: string): Promise<any[]> {
  const r = await e2e.api("GET", `/api/v1/runs/${runId}/events?take=1000`);
  if (r.status !== 200) throw new Error(`events of ${runId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.events;
}
