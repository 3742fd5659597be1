import {
  DEFAULT_EVENT_SOURCE,
  eventRuleMatches,
  type ApiEventLog,
  type EventMetadata,
  type RawEvent,
  type SendEventOptions,
} from "@baton/core";
import { UnitOfWork } from "../event-store/store";
import { newId } from "../ids";
import type { Environment } from "../keys";
import { emptyProjectionState } from "../projections/reducers";
import type { EventRecordRow, JobRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { scheduleExecution } from "./scheduling";
import { TASKS } from "./tasks-names";

/** v2's debounce rule: a resent event id updates the stored event only while its delivery is more than 5 s away. */
export const RESCHEDULE_WINDOW_MS = 5_000;

export { TASKS } from "./tasks-names";

/** One event to ingest, as in `POST /api/v1/events`. */
export interface IngestInput {
  readonly event: RawEvent;
  readonly options?: SendEventOptions | undefined;
}

const RECORD_DATES = ["timestamp", "deliver_at", "delivered_at", "cancelled_at", "created_at", "updated_at"] as const;
const JOB_DATES = ["created_at", "updated_at"] as const;

/** Turns a `row_to_json` row back into the row type (timestamps as `Date`). */
export function reviveDates<T>(row: Record<string, unknown>, columns: readonly string[]): T {
  const out: Record<string, unknown> = { ...row };
  for (const c of columns) if (typeof out[c] === "string") out[c] = new Date(out[c] as string);
  return out as T;
}

/** The v2 `ApiEventLog` view of a stored event record. */
export function toApiEventLog(r: EventRecordRow): ApiEventLog {
  return {
    id: r.event_id,
    name: r.name,
    payload: r.payload as ApiEventLog["payload"],
    context: r.context as ApiEventLog["context"],
    timestamp: r.timestamp,
    deliverAt: r.deliver_at,
    deliveredAt: r.delivered_at,
    cancelledAt: r.cancelled_at,
  };
}

/** The concurrency slot a job's runs take: per job (`concurrencyLimit: n`) or per named group. */
export function concurrencyOf(job: JobRow): { key: string | null; limit: number | null } {
  if (job.concurrency_limit === null) return { key: null, limit: null };
  return job.concurrency_group
    ? { key: `group:${job.environment_id}:${job.concurrency_group}`, limit: job.concurrency_limit }
    : { key: `job:${job.environment_id}:${job.slug}`, limit: job.concurrency_limit };
}

/** What `receiveEvent` records; timestamps default to the unit of work's time. */
export interface ReceivedEvent {
  readonly environmentId: string;
  readonly eventId: string;
  readonly name: string;
  readonly source?: string | undefined;
  readonly payload?: unknown;
  readonly context?: unknown;
  readonly payloadType?: string | undefined;
  readonly timestamp?: Date | undefined;
  readonly deliverAt?: Date | undefined;
  readonly isTest?: boolean;
  /** Made by Baton itself (an invoke, a rerun, a schedule slot) rather than sent by a client. */
  readonly internal?: boolean;
}

/** Appends `event.received` for a new event record (a new stream) and returns the projected record. */
export function receiveEvent(uow: UnitOfWork, event: ReceivedEvent, metadata: EventMetadata): EventRecordRow {
  const recordId = newId("evt");
  uow.append(
    recordId,
    0,
    [
      {
        type: "event.received",
        data: {
          eventRecordId: recordId,
          environmentId: event.environmentId,
          eventId: event.eventId,
          name: event.name,
          source: event.source ?? DEFAULT_EVENT_SOURCE,
          payload: event.payload ?? {},
          context: event.context ?? {},
          payloadType: event.payloadType ?? "JSON",
          timestamp: (event.timestamp ?? uow.now).toISOString(),
          deliverAt: (event.deliverAt ?? uow.now).toISOString(),
          isTest: event.isTest ?? false,
          internal: event.internal ?? false,
        },
      },
    ],
    metadata,
  );
  return uow.state.event_records.get(recordId)!;
}

/**
 * Appends `run.created` + `run.queued` for a new run of `job`, and either its claim (`run.started`, when this process
 * has a free execution slot and the job no concurrency limit: executed right after the commit) or its first execution
 * in the outbox.
 */
export function createRun(
  ctx: CommandContext,
  uow: UnitOfWork,
  job: JobRow,
  record: EventRecordRow,
  metadata: EventMetadata,
  options: { jobVersion?: string; rerunOf?: string } = {},
): string {
  const runId = newId("run");
  const { key, limit } = concurrencyOf(job);
  // A slot of this process is free now and the job has no concurrency limit: the run is claimed in this very commit
  // (`run.started`) and executed right after it, without an outbox job or a claim of its own. Should the process die
  // in between, the run is a dead worker's EXECUTING run, which recovery resumes (as any claimed run).
  const release = limit === null ? ctx.reserveDispatch?.() : undefined;
  // Else, while this process's in-memory dispatch queue has room, the run waits there: QUEUED on this worker
  // (`run.queued {workerId}`), still without an outbox job. Should the process die or stop first, recovery queues it
  // again with one.
  const enqueueLocally = limit === null && !release ? ctx.reserveLocalQueue?.() : undefined;
  uow.append(
    runId,
    0,
    [
      {
        type: "run.created",
        data: {
          runId,
          environmentId: record.environment_id,
          jobSlug: job.slug,
          jobVersion: options.jobVersion ?? job.current_version,
          endpointId: job.endpoint_id,
          eventRecordId: record.id,
          isTest: record.is_test,
          concurrencyKey: key,
          concurrencyLimit: limit,
          traceparent: metadata.traceparent ?? null,
          ...(options.rerunOf ? { rerunOf: options.rerunOf } : {}),
        },
      },
      { type: "run.queued", data: enqueueLocally ? { workerId: ctx.workerId } : {} },
    ],
    // Object.assign, not `{ ...metadata, causationId }`: a spread followed by a new key is a slow path on Node 20
    Object.assign({}, metadata, { causationId: record.id }),
  );
  if (release && ctx.dispatchNow) {
    const dispatch = ctx.dispatchNow;
    uow.append(runId, uow.state.runs.get(runId)!.version, [{ type: "run.started", data: { workerId: ctx.workerId, executionId: newId("exec"), isRetry: false } }], {
      actor: { type: "worker", id: ctx.workerId },
      ...(metadata.traceparent ? { traceparent: metadata.traceparent } : {}),
    });
    uow.afterCommit(() => {
      ctx.runCache.set(uow.state.runs.get(runId)!, [], uow.state.event_records.get(record.id) ?? record);
      release();
      dispatch(runId);
    });
    return runId;
  }
  // this process executes it next (in-process dispatch): its claim needs no read
  if (ctx.dispatchNow) uow.afterCommit(() => ctx.runCache.set(uow.state.runs.get(runId)!, [], uow.state.event_records.get(record.id) ?? record));
  if (enqueueLocally) {
    uow.afterCommit(() => enqueueLocally(runId));
    return runId;
  }
  scheduleExecution(ctx, uow, runId, null);
  return runId;
}

/** Does this job's trigger take this event? (name, source, payload and context filters, as v2 §5.2-5.3) */
export function jobMatchesEvent(job: JobRow, record: EventRecordRow): boolean {
  const trigger = job.trigger as { type?: string; rule?: { event: string | string[]; source?: string; payload?: unknown; context?: unknown } };
  if (trigger.type !== "static" || !trigger.rule) return false;
  return eventRuleMatches(trigger.rule as Parameters<typeof eventRuleMatches>[0], {
    name: record.name,
    source: record.source,
    payload: record.payload,
    context: record.context,
  });
}

/**
 * Delivers an event record now: one run per matching enabled job, then `event.delivered` with the run ids.
 * The record must be in `uow.state` (it is read for its version).
 */
export function deliverRecord(ctx: CommandContext, uow: UnitOfWork, record: EventRecordRow, jobs: readonly JobRow[], metadata: EventMetadata): string[] {
  const runIds = jobs.filter((j) => j.enabled && jobMatchesEvent(j, record)).map((j) => createRun(ctx, uow, j, record, metadata));
  const current = uow.state.event_records.get(record.id) ?? record;
  uow.append(record.id, current.version, [{ type: "event.delivered", data: { runIds } }], metadata);
  return runIds;
}

/** Enabled jobs of an environment with a static (event) trigger. */
export async function loadEventJobs(ctx: CommandContext, environmentId: string): Promise<JobRow[]> {
  const { rows } = await ctx.pool.query<JobRow>(
    "select * from baton.jobs where environment_id = $1 and enabled and trigger->>'type' = 'static'",
    [environmentId],
  );
  return rows;
}

/**
 * What ingesting events with these ids reads: the stored events with the same ids (by event id) and the environment's
 * event-triggered jobs. `optimistic`: with the jobs cached, read nothing and presume the ids new (a duplicate then
 * fails the commit on the unique key, and the retry reads).
 */
async function ingestState(
  ctx: CommandContext,
  env: Environment,
  ids: readonly string[],
  optimistic: boolean,
): Promise<{ existing: Map<string, EventRecordRow>; jobs: readonly JobRow[] }> {
  const existing = new Map<string, EventRecordRow>();
  const cached = optimistic ? ctx.jobsCache?.get(env.id) : undefined;
  if (cached) return { existing, jobs: cached };
  const token = ctx.jobsCache?.begin();
  const { rows } = await ctx.pool.query<{ existing: Record<string, unknown>[]; jobs: Record<string, unknown>[] }>(
    `select
       (select coalesce(json_agg(r), '[]') from baton.event_records r where r.environment_id = $1 and r.event_id = any($2::text[])) as existing,
       (select coalesce(json_agg(j), '[]') from baton.jobs j where j.environment_id = $1 and j.enabled and j.trigger->>'type' = 'static') as jobs`,
    [env.id, ids],
  );
  for (const raw of rows[0]?.existing ?? []) {
    const r = reviveDates<EventRecordRow>(raw, RECORD_DATES);
    existing.set(r.event_id, r);
  }
  const jobs = (rows[0]?.jobs ?? []).map((j) => reviveDates<JobRow>(j, JOB_DATES));
  if (token !== undefined) ctx.jobsCache!.set(env.id, token, jobs);
  return { existing, jobs };
}

function deliverAtOf(input: IngestInput, now: Date): Date {
  if (input.options?.deliverAt) return input.options.deliverAt;
  if (input.options?.deliverAfter !== undefined) return new Date(now.getTime() + input.options.deliverAfter * 1000);
  return now;
}

/**
 * Ingests events (`POST /api/v1/events` and `/bulk`) in one transaction: stores each as `event.received`, delivers the
 * due ones at once (one run per matching job, in the same commit) and schedules the others as durable timers
 * (`baton.deliver_event` at `deliverAt`, job key `event:<record id>`). Dedupe by `event.id` per environment, as v2:
 * a resend while the stored delivery is more than 5 s away updates payload, context and delivery time; otherwise the
 * original is returned and nothing is created. Safe under concurrent duplicates (unique constraint + retry).
 *
 * With the environment's jobs cached (`ctx.jobsCache`), the first attempt reads nothing: it presumes the event ids are
 * new, and a duplicate makes the commit fail on the unique key, after which the retry reads the stored events.
 * @returns the `ApiEventLog` of each input, in input order.
 */
export async function ingestEvents(
  ctx: CommandContext,
  env: Environment,
  inputs: readonly IngestInput[],
  metadata: EventMetadata,
): Promise<ApiEventLog[]> {
  const ids = inputs.map((i) => i.event.id ?? newId("evt").slice(4));
  let attempt = 0;
  return await retryOnConflict(async () => {
    const now = new Date();
    const { existing, jobs: matching } = await ingestState(ctx, env, ids, attempt++ === 0);
    const uow = new UnitOfWork(emptyProjectionState(), now);
    for (const r of existing.values()) uow.state.event_records.set(r.id, r);
    const results: string[] = [];
    inputs.forEach((input, i) => {
      const eventId = ids[i]!;
      const deliverAt = deliverAtOf(input, now);
      const prior = existing.get(eventId);
      if (prior) {
        const current = uow.state.event_records.get(prior.id)!;
        const stillScheduled =
          !current.delivered_at && !current.cancelled_at && current.deliver_at.getTime() >= now.getTime() + RESCHEDULE_WINDOW_MS;
        if (stillScheduled) {
          uow.append(
            current.id,
            current.version,
            [
              {
                type: "event.updated",
                data: {
                  payload: input.event.payload ?? {},
                  context: input.event.context ?? {},
                  payloadType: input.event.payloadType ?? "JSON",
                  deliverAt: deliverAt.toISOString(),
                },
              },
            ],
            metadata,
          );
          scheduleOrDeliver(ctx, uow, uow.state.event_records.get(current.id)!, matching, metadata, now);
        }
        results.push(current.id);
        return;
      }
      const record = receiveEvent(
        uow,
        {
          environmentId: env.id,
          eventId,
          name: input.event.name,
          source: input.event.source,
          payload: input.event.payload,
          context: input.event.context,
          payloadType: input.event.payloadType,
          timestamp: input.event.timestamp ?? now,
          deliverAt,
        },
        metadata,
      );
      const recordId = record.id;
      existing.set(eventId, record);
      scheduleOrDeliver(ctx, uow, record, matching, metadata, now);
      results.push(recordId);
    });
    await uow.commit(ctx.pool);
    return results.map((id) => toApiEventLog(uow.state.event_records.get(id)!));
  });
}

function scheduleOrDeliver(
  ctx: CommandContext,
  uow: UnitOfWork,
  record: EventRecordRow,
  jobs: readonly JobRow[],
  metadata: EventMetadata,
  now: Date,
): void {
  if (record.deliver_at.getTime() <= now.getTime()) {
    deliverRecord(ctx, uow, record, jobs, metadata);
  } else {
    uow.enqueue({
      task: TASKS.deliverEvent,
      payload: { eventRecordId: record.id },
      runAt: record.deliver_at,
      jobKey: `event:${record.id}`,
    });
    ctx.onJobScheduled?.(record.deliver_at);
  }
}

/**
 * Cancels a delayed event (`POST /api/v1/events/:id/cancel`): records `event.canceled` and removes its delivery job.
 * An event already delivered or canceled is returned unchanged.
 * @returns the event, or undefined when the id is unknown in this environment.
 */
export async function cancelEvent(ctx: CommandContext, env: Environment, eventId: string, metadata: EventMetadata): Promise<ApiEventLog | undefined> {
  return await retryOnConflict(async () => {
    const { rows } = await ctx.pool.query<EventRecordRow>(
      "select * from baton.event_records where environment_id = $1 and event_id = $2",
      [env.id, eventId],
    );
    const record = rows[0];
    if (!record) return undefined;
    if (record.delivered_at || record.cancelled_at) return toApiEventLog(record);
    const uow = new UnitOfWork();
    uow.state.event_records.set(record.id, record);
    uow.append(record.id, record.version, [{ type: "event.canceled", data: {} }], metadata);
    uow.dequeue(`event:${record.id}`);
    await uow.commit(ctx.pool);
    return toApiEventLog(uow.state.event_records.get(record.id)!);
  });
}

/** The graphile task `baton.deliver_event`: delivers a delayed event at its time (idempotent). */
export async function deliverScheduledEvent(ctx: CommandContext, eventRecordId: string): Promise<void> {
  await retryOnConflict(async () => {
    const { rows } = await ctx.pool.query<EventRecordRow>("select * from baton.event_records where id = $1", [eventRecordId]);
    const record = rows[0];
    if (!record || record.delivered_at || record.cancelled_at) return;
    const now = new Date();
    if (record.deliver_at.getTime() > now.getTime() + 50) return; // rescheduled later; its own job will come
    const jobs = await loadEventJobs(ctx, record.environment_id);
    const uow = new UnitOfWork(emptyProjectionState(), now);
    uow.state.event_records.set(record.id, record);
    deliverRecord(ctx, uow, record, jobs, { actor: { type: "worker", id: ctx.workerId } });
    await uow.commit(ctx.pool);
  });
}
