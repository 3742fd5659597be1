import { createHash } from "node:crypto";
import { CronExpressionParser } from "cron-parser";
import type { EventMetadata, ScheduleMetadata } from "@baton/core";
import { UnitOfWork } from "../event-store/store";
import { emptyProjectionState } from "../projections/reducers";
import type { JobRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { createRun, receiveEvent, reviveDates, TASKS } from "./ingest";

/** The event name of scheduled runs, as v2's `trigger.scheduled`. */
export const SCHEDULED_EVENT_NAME = "trigger.scheduled";

/** The schedule of a job's trigger, or undefined for non-scheduled triggers. */
export function scheduleOf(job: Pick<JobRow, "trigger">): ScheduleMetadata | undefined {
  const trigger = job.trigger as { type?: string; schedule?: ScheduleMetadata };
  return trigger.type === "scheduled" ? trigger.schedule : undefined;
}

/** A short hash identifying a schedule: a pending slot job whose hash differs from the job's is stale. */
export function scheduleHash(schedule: ScheduleMetadata): string {
  return createHash("sha256").update(JSON.stringify({ type: schedule.type, options: schedule.options })).digest("hex").slice(0, 16);
}

/**
 * The first slot strictly after `after`: the next cron match in UTC (cron-parser), or `after + seconds` for an
 * interval.
 * @throws on an invalid cron expression (indexing validated it first).
 */
export function nextSlot(schedule: ScheduleMetadata, after: Date): Date {
  if (schedule.type === "interval") return new Date(after.getTime() + schedule.options.seconds * 1000);
  const expression = CronExpressionParser.parse(schedule.options.cron, { currentDate: after, tz: "UTC" });
  return expression.next().toDate();
}

/** The graphile job key of a job's next slot. */
export const scheduleJobKey = (environmentId: string, slug: string): string => `schedule:${environmentId}:${slug}`;

/** Enqueues the next slot of a scheduled job; `keepPending` keeps an already-pending slot's time (re-index). */
export function enqueueSlot(ctx: CommandContext, uow: UnitOfWork, job: Pick<JobRow, "environment_id" | "slug" | "trigger">, slot: Date, keepPending: boolean): void {
  const schedule = scheduleOf(job);
  if (!schedule) return;
  uow.enqueue({
    task: TASKS.schedule,
    payload: { environmentId: job.environment_id, jobSlug: job.slug, scheduleHash: scheduleHash(schedule), slot: slot.toISOString() },
    runAt: slot,
    jobKey: scheduleJobKey(job.environment_id, job.slug),
    jobKeyMode: keepPending ? "preserve_run_at" : "replace",
  });
  ctx.onJobScheduled?.(slot);
}

/**
 * The graphile task `baton.schedule`: fires one slot of a cron/interval job. The slot's event id
 * `schedule:<job>:<slot ms>` is unique per environment, so each slot yields exactly one run even when the job is
 * delivered twice; the next slot is enqueued in the same commit. A slot whose job changed schedule, was disabled or
 * removed does nothing (re-indexing already replaced or removed the pending slot).
 */
export async function fireScheduleSlot(
  ctx: CommandContext,
  payload: { environmentId: string; jobSlug: string; scheduleHash: string; slot: string },
): Promise<void> {
  await retryOnConflict(async () => {
    const { rows } = await ctx.pool.query<{ job: Record<string, unknown> | null; fired: boolean }>(
      `select (select row_to_json(j) from baton.jobs j where j.environment_id = $1 and j.slug = $2) as job,
              exists (select 1 from baton.event_records e where e.environment_id = $1 and e.event_id = $3) as fired`,
      [payload.environmentId, payload.jobSlug, `schedule:${payload.jobSlug}:${new Date(payload.slot).getTime()}`],
    );
    const job = rows[0]?.job ? reviveDates<JobRow>(rows[0].job, ["created_at", "updated_at"]) : undefined;
    if (!job || !job.enabled) return;
    const schedule = scheduleOf(job);
    if (!schedule || scheduleHash(schedule) !== payload.scheduleHash) return;
    const slot = new Date(payload.slot);
    const uow = new UnitOfWork(emptyProjectionState());
    const metadata: EventMetadata = { actor: { type: "system", reason: "schedule" } };
    if (!rows[0]?.fired) {
      const record = receiveEvent(
        uow,
        {
          environmentId: job.environment_id,
          eventId: `schedule:${job.slug}:${slot.getTime()}`,
          name: SCHEDULED_EVENT_NAME,
          payload: { ts: slot.toISOString() },
          timestamp: slot,
          deliverAt: slot,
          internal: true,
        },
        metadata,
      );
      const runId = createRun(ctx, uow, job, record, metadata);
      uow.append(record.id, 1, [{ type: "event.delivered", data: { runIds: [runId] } }], metadata);
    }
    let next = nextSlot(schedule, slot);
    if (next.getTime() < uow.now.getTime()) next = nextSlot(schedule, uow.now); // missed slots while down are skipped
    enqueueSlot(ctx, uow, job, next, false);
    await uow.commit(ctx.pool);
  });
}
