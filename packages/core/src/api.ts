import { z } from "zod";
import { WireDate } from "./dates";
import { ApiEventLog, ErrorWithStack, Json, JobRunStatusRecord, RunStatus, TaskStatus } from "./protocol";

// Bodies of Baton's public HTTP API (SPEC §5). Routes the v2 SDK calls keep v2's shapes, so the real
// `@trigger.dev/sdk@2.3.19` parses our answers; Baton-only fields are optional additions.

const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

// ---------------------------------------------------------------------------------------------------
// Events

/** Where an event comes from; `"trigger.dev"` when not given. */
export const DEFAULT_EVENT_SOURCE = "trigger.dev";

/**
 * One event to ingest (v2 `RawEventSchema`). `payload` is stored as `{}` when absent; `id` (unique per
 * environment) is generated when absent; `timestamp` defaults to now; `source` to
 * {@link DEFAULT_EVENT_SOURCE}; `payloadType` to `"JSON"`.
 */
export const RawEvent = z.object({
  name: z.string().min(1),
  payload: z.any().optional(),
  context: z.any().optional(),
  id: z.string().min(1).optional(),
  timestamp: WireDate.optional(),
  source: z.string().min(1).optional(),
  payloadType: z.enum(["JSON", "REQUEST"]).optional(),
});
export type RawEvent = z.infer<typeof RawEvent>;

/**
 * When and for whom an event is delivered: `deliverAt` (a date) wins over `deliverAfter` (whole seconds
 * from now, >= 0); neither = now. `accountId` ties the event to an external account.
 */
export const SendEventOptions = z.object({
  deliverAt: WireDate.optional(),
  // bounded so that now + deliverAfter is still a date (10^15 s used to be a 500)
  deliverAfter: z.number().int().min(0).max(100 * 365 * 24 * 3600, "must be at most 100 years in seconds (3153600000)").optional(),
  accountId: z.string().optional(),
});
export type SendEventOptions = z.infer<typeof SendEventOptions>;

/** Body of `POST /api/v1/events`; answered with the stored event ({@link ApiEventLog}). */
export const SendEventBody = z.object({
  event: RawEvent,
  options: SendEventOptions.optional(),
});
export type SendEventBody = z.infer<typeof SendEventBody>;

/** Answer of `POST /api/v1/events` and `POST /api/v1/events/:id/cancel`. */
export const SendEventResponse = ApiEventLog;
export type SendEventResponse = ApiEventLog;

/** Body of `POST /api/v1/events/bulk`: the events are ingested in order, with the same options. */
export const SendBulkEventsBody = z.object({
  events: z.array(RawEvent),
  options: SendEventOptions.optional(),
});
export type SendBulkEventsBody = z.infer<typeof SendBulkEventsBody>;

/** Answer of `POST /api/v1/events/bulk`: one {@link ApiEventLog} per event, in order. */
export const SendBulkEventsResponse = z.array(ApiEventLog);
export type SendBulkEventsResponse = z.infer<typeof SendBulkEventsResponse>;

/** A run started by an event, as listed by {@link GetEventResponse}. */
export const EventRun = z.object({
  id: z.string(),
  status: RunStatus,
  startedAt: WireDate.nullish(),
  completedAt: WireDate.nullish(),
});
export type EventRun = z.infer<typeof EventRun>;

/** Answer of `GET /api/v2/events/:id` (v2 `GetEventSchema`): the event and the runs it started. */
export const GetEventResponse = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: WireDate,
  updatedAt: WireDate,
  runs: z.array(EventRun),
});
export type GetEventResponse = z.infer<typeof GetEventResponse>;

/** Answer of `POST /api/v1/events/:id/cancel-runs` and `POST /api/v1/jobs/:jobId/cancel-runs`. */
export const CancelRunsResponse = z.object({
  cancelledRunIds: z.array(z.string()),
  failedToCancelRunIds: z.array(z.string()),
});
export type CancelRunsResponse = z.infer<typeof CancelRunsResponse>;

// ---------------------------------------------------------------------------------------------------
// Jobs and endpoints

/**
 * Body of `POST /api/v1/jobs/:jobId/invoke` (v2 `InvokeJobRequestBodySchema`); the optional
 * `Idempotency-Key` header becomes the event id, so a repeated invoke returns the first run.
 * `options.callbackUrl` receives the run's notification when it finishes.
 */
export const InvokeJobBody = z.object({
  payload: z.any().optional(),
  context: z.any().optional(),
  options: z
    .object({
      accountId: z.string().optional(),
      callbackUrl: HttpUrl.optional(),
    })
    .optional(),
});
export type InvokeJobBody = z.infer<typeof InvokeJobBody>;

/** Answer of `POST /api/v1/jobs/:jobId/invoke`: the run id. */
export const InvokeJobResponse = z.object({
  id: z.string(),
});
export type InvokeJobResponse = z.infer<typeof InvokeJobResponse>;

/**
 * Body of `POST /api/v1/endpoints`: `id` is the client's `id` (`new TriggerClient({id})`) and `url` the
 * http(s) URL the server POSTs actions to. The v2 CLI sends the id as `name`; it is accepted as such.
 * The parsed value is always `{id, url}`.
 */
export const RegisterEndpointBody = z
  .object({
    id: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    url: HttpUrl,
  })
  .refine((body) => body.id !== undefined || body.name !== undefined, {
    message: "id is required",
    path: ["id"],
  })
  .transform((body) => ({ id: body.id ?? body.name ?? "", url: body.url }));
export type RegisterEndpointBody = z.output<typeof RegisterEndpointBody>;

/** Answer of `POST /api/v1/endpoints`: the endpoint and the jobs found by indexing it. */
export const RegisterEndpointResponse = z.object({
  id: z.string(),
  url: z.string(),
  indexedAt: WireDate.nullish(),
  jobs: z.array(z.object({ id: z.string(), version: z.string() })),
});
export type RegisterEndpointResponse = z.infer<typeof RegisterEndpointResponse>;

// ---------------------------------------------------------------------------------------------------
// Runs

function commaSeparated(value: unknown): unknown {
  if (typeof value === "string") return value.split(",").filter((part) => part.length > 0);
  return value;
}

/**
 * Query of `GET /api/v1/runs` (and `GET /api/v1/jobs/:jobId/runs`): filter by `jobId` and by `status`
 * (one or more, comma separated), page with `cursor` (the `nextCursor` of the previous page), `take`
 * 1..100 runs per page (default 20). Newest first. Strict: an unknown parameter is an error naming it.
 */
export const ListRunsQuery = z.object({
  jobId: z.string().min(1).optional(),
  status: z.preprocess(commaSeparated, z.array(RunStatus).min(1)).optional(),
  cursor: z.string().min(1).optional(),
  take: z.coerce.number().int().min(1).max(100).default(20),
}).strict();
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;

/**
 * One run in a list (v2 `RunSchema`: `id, status, startedAt, updatedAt, completedAt`), plus Baton's job
 * and event references.
 */
export const RunSummary = z.object({
  id: z.string(),
  status: RunStatus,
  startedAt: WireDate.nullable(),
  updatedAt: WireDate.nullable(),
  completedAt: WireDate.nullable(),
  createdAt: WireDate.optional(),
  jobId: z.string().optional(),
  jobVersion: z.string().optional(),
  eventId: z.string().optional(),
  isTest: z.boolean().optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** Answer of `GET /api/v1/runs` (v2 `GetRunsSchema`). */
export const ListRunsResponse = z.object({
  runs: z.array(RunSummary),
  nextCursor: z.string().optional(),
});
export type ListRunsResponse = z.infer<typeof ListRunsResponse>;

/** A global event position in a query string: digits within Postgres' bigint (a larger number is a 422, not a 500). */
const EventPosition = z
  .string()
  .regex(/^\d+$/, "must be an event position (digits)")
  .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= BigInt("9223372036854775807"), "must be an event position (at most 9223372036854775807)");

/**
 * Query of `GET /api/v2/runs/:runId` (v2 `GetRunOptions`): `subtasks` nests child tasks, `taskdetails`
 * adds params/output/error, `cursor`/`take` (1..50, default 20) page the top-level tasks, and Baton's
 * `asOf` (an event position) gives the run's state as of that event. Strict: an unknown parameter is an error.
 */
export const GetRunQuery = z.object({
  subtasks: z.stringbool().optional(),
  taskdetails: z.stringbool().optional(),
  cursor: z.string().min(1).optional(),
  take: z.coerce.number().int().min(1).max(50).default(20),
  asOf: EventPosition.optional(),
}).strict();
export type GetRunQuery = z.infer<typeof GetRunQuery>;

/** A task of a run (v2 `RunTaskSchema`), with Baton's details when `taskdetails` is asked. */
export type RunTaskWithSubtasks = {
  id: string;
  displayKey: string | null;
  status: TaskStatus;
  name: string;
  icon: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  parentId?: string | null | undefined;
  noop?: boolean | undefined;
  attempts?: number | undefined;
  delayUntil?: Date | null | undefined;
  /** With `taskdetails`: the task's description (a log's message). */
  description?: string | null | undefined;
  params?: Json | null | undefined;
  output?: Json | null | undefined;
  error?: ErrorWithStack | null | undefined;
  subtasks?: RunTaskWithSubtasks[] | undefined;
};
export const RunTaskWithSubtasks: z.ZodType<RunTaskWithSubtasks> = z.lazy(() =>
  z.object({
    id: z.string(),
    displayKey: z.string().nullable(),
    status: TaskStatus,
    name: z.string(),
    icon: z.string().nullable(),
    startedAt: WireDate.nullable(),
    completedAt: WireDate.nullable(),
    parentId: z.string().nullish(),
    noop: z.boolean().optional(),
    attempts: z.number().int().optional(),
    delayUntil: WireDate.nullish(),
    description: z.string().nullish(),
    params: Json.nullish(),
    output: Json.nullish(),
    error: ErrorWithStack.nullish(),
    subtasks: z.array(RunTaskWithSubtasks).optional(),
  }),
);

/**
 * Answer of `GET /api/v2/runs/:runId` (v2 `GetRunSchema`): the run, its `output` (SUCCESS), its `error`
 * (FAILURE and the like), the task tree, the status records, and `nextCursor` when more tasks remain.
 */
export const GetRunResponse = RunSummary.extend({
  output: z.any().optional(),
  error: ErrorWithStack.nullish(),
  tasks: z.array(RunTaskWithSubtasks),
  statuses: z.array(JobRunStatusRecord).default([]),
  nextCursor: z.string().optional(),
});
export type GetRunResponse = z.infer<typeof GetRunResponse>;

/** Answer of `POST /api/v1/runs/:runId/cancel`: the run after cancellation (v2 parses it as `GetRunSchema`). */
export const CancelRunResponse = GetRunResponse;
export type CancelRunResponse = GetRunResponse;

/** Answer of `POST /api/v1/runs/:runId/continue`: the same run, queued again. */
export const ContinueRunResponse = z.object({
  id: z.string(),
  status: RunStatus,
});
export type ContinueRunResponse = z.infer<typeof ContinueRunResponse>;

/** Answer of `POST /api/v1/runs/:runId/rerun`: the new run of the same event on the same job version. */
export const RerunRunResponse = z.object({
  id: z.string(),
  status: RunStatus,
  rerunOf: z.string(),
});
export type RerunRunResponse = z.infer<typeof RerunRunResponse>;

/** Answer of `GET /api/v2/runs/:runId/statuses` (v2 `GetRunStatusesSchema`). */
export const GetRunStatusesResponse = z.object({
  run: z.object({ id: z.string(), status: RunStatus, output: z.any().optional() }),
  statuses: z.array(JobRunStatusRecord),
});
export type GetRunStatusesResponse = z.infer<typeof GetRunStatusesResponse>;

/**
 * Query of `GET /api/v1/runs/:runId/events`: events after position `after` (exclusive, digits), at most
 * `take` (1..1000, default 100). Strict: an unknown parameter is an error.
 */
export const ListRunEventsQuery = z.object({
  after: EventPosition.optional(),
  take: z.coerce.number().int().min(1).max(1000).default(100),
}).strict();
export type ListRunEventsQuery = z.infer<typeof ListRunEventsQuery>;

/**
 * One stored event of a run's history: `position` is the global position (a bigint, as a decimal string),
 * `version` the position in the run's stream, `type` the dotted event type (`run.created`, ...).
 */
export const StoredEventView = z.object({
  position: z.string(),
  streamId: z.string(),
  version: z.number().int(),
  type: z.string(),
  data: z.unknown().optional(),
  metadata: z.unknown().optional(),
  occurredAt: WireDate,
});
export type StoredEventView = z.infer<typeof StoredEventView>;

/** Answer of `GET /api/v1/runs/:runId/events`: the run's immutable history in order. */
export const ListRunEventsResponse = z.object({
  events: z.array(StoredEventView),
  nextCursor: z.string().optional(),
});
export type ListRunEventsResponse = z.infer<typeof ListRunEventsResponse>;
