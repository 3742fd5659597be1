import { z } from "zod";

/**
 * Baton's event types: one discriminated union on `type` (dotted, lowercase, past tense), stored in `baton.events`.
 * Stream ids: a run's id (`run_…`) for run, task and log events; the event record id (`evt_…`) for ingested events;
 * `job:<environmentId>:<slug>` for jobs; `endpoint:<environmentId>:<slug>` for endpoints.
 * Timestamps inside `data` are ISO-8601 strings; the event's own time is the row's `occurred_at`.
 */

const IsoDate = z.string().datetime({ offset: true });
const Json = z.unknown();

/** `{message, name?, stack?}`, the shape of every error stored in an event. */
export const StoredError = z.object({
  message: z.string(),
  name: z.string().optional(),
  stack: z.string().optional(),
});
export type StoredError = z.infer<typeof StoredError>;

/** Who caused an event: an API key (by environment and key hint), a worker process, or the system. */
export const EventActor = z.discriminatedUnion("type", [
  z.object({ type: z.literal("api_key"), environmentId: z.string(), keyHint: z.string() }),
  z.object({ type: z.literal("worker"), id: z.string() }),
  z.object({ type: z.literal("endpoint"), environmentId: z.string() }),
  z.object({ type: z.literal("system"), reason: z.string().optional() }),
]);
export type EventActor = z.infer<typeof EventActor>;

/** `baton.events.metadata`: actor, W3C trace context, causation and correlation ids. */
export const EventMetadata = z.object({
  actor: EventActor.optional(),
  traceparent: z.string().optional(),
  causationId: z.string().optional(),
  correlationId: z.string().optional(),
  route: z.string().optional(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

const TaskStatusValue = z.enum(["PENDING", "WAITING", "RUNNING", "COMPLETED", "ERRORED", "CANCELED"]);

const ev = <T extends string, D extends z.ZodTypeAny>(type: T, data: D) => z.object({ type: z.literal(type), data });

// ---- run lifecycle (stream = run id) ----
export const RunCreated = ev(
  "run.created",
  z.object({
    runId: z.string(),
    environmentId: z.string(),
    jobSlug: z.string(),
    jobVersion: z.string(),
    endpointId: z.string(),
    eventRecordId: z.string(),
    isTest: z.boolean(),
    concurrencyKey: z.string().nullable(),
    concurrencyLimit: z.number().int().nullable(),
    traceparent: z.string().nullable(),
    /** Set on a rerun: the run this one repeats. */
    rerunOf: z.string().nullable().optional(),
  }),
);
/**
 * A run is queued for execution. `workerId`: the server process that holds it in its in-memory dispatch queue (no
 * outbox job; recovery queues it again when that process dies or stops). `reason`: why a queued run was queued again
 * (`execution_failed`: its process gave up executing it in-process and handed it to the outbox).
 */
export const RunQueued = ev(
  "run.queued",
  z.object({
    workerId: z.string().nullable().optional(),
    reason: z.enum(["worker_lost", "worker_stopped", "execution_failed"]).optional(),
  }),
);
export const RunStarted = ev(
  "run.started",
  z.object({ workerId: z.string(), executionId: z.string(), isRetry: z.boolean() }),
);
export const RunWaiting = ev(
  "run.waiting",
  z.object({
    taskId: z.string(),
    reason: z.enum(["delay", "retry", "callback", "operation", "parallel"]),
    resumeAt: IsoDate.nullable(),
    executionDurationMs: z.number(),
  }),
);
export const RunResumed = ev("run.resumed", z.object({ taskId: z.string().nullable() }));
export const RunYielded = ev(
  "run.yielded",
  z.object({
    reason: z.enum(["yield", "auto_yield", "rate_limit", "worker_lost", "concurrency_limit", "execution_failed"]),
    key: z.string().optional(),
    location: z.string().optional(),
    resumeAt: IsoDate.nullable(),
    executionDurationMs: z.number(),
  }),
);
export const RunExecutionFailed = ev(
  "run.execution_failed",
  z.object({ error: StoredError, retryAt: IsoDate, executionDurationMs: z.number() }),
);
export const RunSucceeded = ev(
  "run.succeeded",
  z.object({ output: z.string().nullable(), outputMeta: Json.optional(), executionDurationMs: z.number() }),
);
export const RunFailed = ev(
  "run.failed",
  z.object({ error: StoredError, taskId: z.string().nullable(), executionDurationMs: z.number() }),
);
export const RunTimedOut = ev("run.timed_out", z.object({ reason: z.string(), executionDurationMs: z.number() }));
export const RunCanceled = ev("run.canceled", z.object({ reason: z.string().optional() }));
export const RunInvalidPayload = ev(
  "run.invalid_payload",
  z.object({ errors: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])).or(z.string()), message: z.string() })), executionDurationMs: z.number() }),
);
export const RunContinued = ev("run.continued", z.object({}));

// ---- tasks and logs (stream = run id) ----
export const TaskCreated = ev(
  "task.created",
  z.object({
    taskId: z.string(),
    idempotencyKey: z.string(),
    parentId: z.string().nullable(),
    depth: z.number().int(),
    name: z.string(),
    displayKey: z.string().nullable(),
    icon: z.string().nullable(),
    description: z.string().nullable(),
    params: Json.optional(),
    properties: Json.optional(),
    style: Json.optional(),
    noop: z.boolean(),
    operation: z.string().nullable(),
    parallel: z.boolean(),
    status: TaskStatusValue,
    delayUntil: IsoDate.nullable(),
    retry: Json.optional(),
    redact: Json.optional(),
    /** Baton protocol 2: when the endpoint started the task on its own (its clock); absent: the event's time. */
    startedAt: IsoDate.optional(),
  }),
);
export const TaskCompleted = ev(
  "task.completed",
  z.object({
    taskId: z.string(),
    output: z.string().nullable(),
    outputMeta: Json.optional(),
    properties: Json.optional(),
    /** A deferred completion: when the task's body returned on the endpoint; absent: the event's time. */
    completedAt: IsoDate.optional(),
  }),
);
export const TaskFailed = ev("task.failed", z.object({ taskId: z.string(), error: StoredError }));
export const TaskRetryScheduled = ev(
  "task.retry_scheduled",
  z.object({ taskId: z.string(), error: StoredError, retryAt: IsoDate }),
);
export const TaskResumed = ev("task.resumed", z.object({ taskId: z.string(), status: z.enum(["RUNNING", "COMPLETED"]) }));
export const TaskCanceled = ev("task.canceled", z.object({ taskId: z.string() }));
export const TaskReset = ev("task.reset", z.object({ taskId: z.string() }));
export const LogWritten = ev(
  "log.written",
  z.object({
    taskId: z.string(),
    idempotencyKey: z.string(),
    parentId: z.string().nullable(),
    depth: z.number().int(),
    level: z.string(),
    message: z.string(),
    data: Json.optional(),
    style: Json.optional(),
  }),
);

// ---- ingested events (stream = event record id) ----
export const EventReceived = ev(
  "event.received",
  z.object({
    eventRecordId: z.string(),
    environmentId: z.string(),
    eventId: z.string(),
    name: z.string(),
    source: z.string(),
    payload: Json,
    context: Json,
    payloadType: z.string(),
    timestamp: IsoDate,
    deliverAt: IsoDate,
    isTest: z.boolean(),
    internal: z.boolean(),
  }),
);
export const EventUpdated = ev(
  "event.updated",
  z.object({ payload: Json, context: Json, payloadType: z.string(), deliverAt: IsoDate }),
);
export const EventCanceled = ev("event.canceled", z.object({}));
export const EventDelivered = ev("event.delivered", z.object({ runIds: z.array(z.string()) }));

// ---- endpoints and jobs ----
export const EndpointRegistered = ev(
  "endpoint.registered",
  z.object({ endpointId: z.string(), environmentId: z.string(), slug: z.string(), url: z.string() }),
);
export const EndpointIndexed = ev(
  "endpoint.indexed",
  z.object({
    jobCount: z.number().int(),
    triggerVersion: z.string().nullable(),
    sdkVersion: z.string().nullable(),
    batonProtocol: z.number().int().nullable(),
  }),
);
export const EndpointIndexFailed = ev("endpoint.index_failed", z.object({ error: z.string() }));
export const JobIndexed = ev(
  "job.indexed",
  z.object({
    environmentId: z.string(),
    slug: z.string(),
    name: z.string(),
    jobVersion: z.string(),
    endpointId: z.string(),
    trigger: Json,
    event: Json,
    enabled: z.boolean(),
    internal: z.boolean(),
    concurrencyLimit: z.number().int().nullable(),
    concurrencyGroup: z.string().nullable(),
    integrations: Json,
    metadata: Json,
  }),
);
export const JobDisabled = ev("job.disabled", z.object({ reason: z.string() }));

/** Every event Baton stores, as appended (without position/version, which the store assigns). */
export const BatonEventBody = z.discriminatedUnion("type", [
  RunCreated, RunQueued, RunStarted, RunWaiting, RunResumed, RunYielded, RunExecutionFailed, RunSucceeded,
  RunFailed, RunTimedOut, RunCanceled, RunInvalidPayload, RunContinued,
  TaskCreated, TaskCompleted, TaskFailed, TaskRetryScheduled, TaskResumed, TaskCanceled, TaskReset, LogWritten,
  EventReceived, EventUpdated, EventCanceled, EventDelivered,
  EndpointRegistered, EndpointIndexed, EndpointIndexFailed, JobIndexed, JobDisabled,
]);
export type BatonEventBody = z.infer<typeof BatonEventBody>;
/** The `type` of any Baton event, e.g. `"run.created"`. */
export type BatonEventType = BatonEventBody["type"];
/** The `data` of the event of type `T`. */
export type BatonEventData<T extends BatonEventType> = Extract<BatonEventBody, { type: T }>["data"];

/** A stored event: the body plus its place in the store. `position` is a decimal string (bigint). */
export type StoredEvent = BatonEventBody & {
  readonly position: string;
  readonly streamId: string;
  readonly version: number;
  readonly metadata: EventMetadata;
  readonly occurredAt: Date;
};

/** Helper for exhaustive switches: a new event type is a compile error until handled. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
