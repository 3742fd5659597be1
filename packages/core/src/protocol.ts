import { z } from "zod";
import { WireDate } from "./dates";
import { EventFilter, EventRule } from "./event-filter";
import { RetryOptions } from "./retry";

// The Trigger.dev v2 wire protocol (reference §3, `@trigger.dev/core@2.3.19` `schemas/*`), plus Baton's
// negotiated extension (docs/ARCHITECTURE.md). Field names, optionality and defaults follow what the real
// 2.3.19 SDK sends and accepts; see ../PROTOCOL-NOTES.md. Dates travel as ISO strings and are parsed with
// `WireDate` where v2 does, so a Date and a string both parse. Objects strip unknown keys.
// Note for zod 4: `z.any()`/`z.unknown()` object keys are required unless `.optional()`.

// ---------------------------------------------------------------------------------------------------
// Versions, headers, actions

/** Values of the `Trigger-Version` / `x-trigger-version` headers, as v2's `API_VERSIONS`. */
export const API_VERSIONS = {
  /** Task creation answers `{task, cachedTasks}` (lazy-loaded cache); `io.yield` is supported. */
  LAZY_LOADED_CACHED_TASKS: "2023-09-29",
  /** Task completion sends `output` as JSON text. */
  SERIALIZED_TASK_OUTPUT: "2023-11-01",
} as const;
export type ApiVersion = (typeof API_VERSIONS)[keyof typeof API_VERSIONS];

/** The `x-trigger-version` the server sends on every request to an endpoint (v2 platform value). */
export const SERVER_API_VERSION = API_VERSIONS.LAZY_LOADED_CACHED_TASKS;

/**
 * The Baton protocol extension version announced in `x-baton-protocol` and `RunJobBody.batonProtocol`.
 * 1: deferred completions (`completedTasks`), `outputMeta`, exact `noopTaskKeys`.
 * 2: also endpoint-started tasks (`startedTasks`, `uncachedTaskKeys`, `POST /api/v1/runs/:runId/tasks/report`).
 */
export const BATON_PROTOCOL_VERSION = 2;

/** HTTP header names of the protocol. Header names are case-insensitive; these are the spellings v2 uses. */
export const HEADERS = {
  /** Server → endpoint: the environment's API key; the endpoint compares it with its own. */
  triggerApiKey: "x-trigger-api-key",
  /** Server → endpoint: which {@link TriggerAction} the request is. */
  triggerAction: "x-trigger-action",
  /** Server → endpoint: the server's API version ({@link SERVER_API_VERSION}). */
  triggerVersion: "x-trigger-version",
  /** Server → endpoint on `PING`: the endpoint (client) id the server expects. */
  triggerEndpointId: "x-trigger-endpoint-id",
  /** Endpoint → server on `EXECUTE_JOB`: JSON {@link ExecuteJobRunMetadata}. */
  triggerRunMetadata: "x-trigger-run-metadata",
  /** Endpoint → server (Baton SDK only): the Baton protocol version it speaks, e.g. `"2"`. */
  batonProtocol: "x-baton-protocol",
  /** SDK → server on task creation and invoke: the task / request idempotency key. */
  idempotencyKey: "Idempotency-Key",
  /** SDK → server on task creation: the cursor of the next lazily loaded cached tasks (may be `""`). */
  cachedTasksCursor: "X-Cached-Tasks-Cursor",
  /** Both ways: the API version of a request or response body ({@link API_VERSIONS}). */
  apiVersion: "Trigger-Version",
  /** Endpoint → server: the SDK package version. */
  sdkVersion: "Trigger-SDK-Version",
  /** Endpoint → server: request timing, informational. */
  requestTiming: "X-Trigger-Request-Timing",
  /** Server → SDK with a 429: when to retry, epoch ms; the v2 SDK turns it into `AUTO_YIELD_RATE_LIMIT`. */
  rateLimitReset: "x-ratelimit-reset",
  /** SDK → server: `Bearer <api key>`. */
  authorization: "Authorization",
} as const;

/** Values of `x-trigger-action`, as v2's `TriggerClient.handleRequest` switch. */
export const TriggerAction = z.enum([
  "PING",
  "VALIDATE",
  "INDEX_ENDPOINT",
  "EXECUTE_JOB",
  "PREPROCESS_RUN",
  "INITIALIZE_TRIGGER",
  "DELIVER_HTTP_SOURCE_REQUEST",
  "DELIVER_HTTP_ENDPOINT_REQUEST_FOR_RESPONSE",
  "DELIVER_WEBHOOK_REQUEST",
  "PROBE_EXECUTION_TIMEOUT",
  "RUN_NOTIFICATION",
]);
export type TriggerAction = z.infer<typeof TriggerAction>;

// ---------------------------------------------------------------------------------------------------
// Shared values

/** Any JSON value (what `JSON.parse` can return). v2's `DeserializedJson`. */
export const Json = z.json();
export type Json = z.infer<typeof Json>;

/** An error as the SDK reports it: `{message, name?, stack?}` (v2 `ErrorWithStackSchema`). */
export const ErrorWithStack = z.object({
  message: z.string(),
  name: z.string().optional(),
  stack: z.string().optional(),
});
export type ErrorWithStack = z.infer<typeof ErrorWithStack>;

/** One payload validation issue in `INVALID_PAYLOAD`: the path as strings (`["tags", "0"]`) and the message. */
export const SchemaError = z.object({
  path: z.array(z.string()),
  message: z.string(),
});
export type SchemaError = z.infer<typeof SchemaError>;

/** A label/value shown on a run or task in the dashboard. */
export const DisplayProperty = z.object({
  label: z.string(),
  text: z.string(),
  url: z.string().optional(),
  imageUrl: z.array(z.string()).optional(),
});
export type DisplayProperty = z.infer<typeof DisplayProperty>;

/** How a task row is drawn: `normal` or `minimal` (logs, waits), with an optional colour variant. */
export const Style = z.object({
  style: z.enum(["normal", "minimal"]),
  variant: z.string().optional(),
});
export type Style = z.infer<typeof Style>;

/** Dot paths of a task's output to hide in the dashboard (`{paths: ["user.password"]}`). */
export const RedactSchema = z.object({
  paths: z.array(z.string()),
});
export type RedactSchema = z.infer<typeof RedactSchema>;

/** Task statuses (v2 `TaskStatus`). Only `COMPLETED` outputs are ever cached. */
export const TaskStatus = z.enum(["PENDING", "WAITING", "RUNNING", "COMPLETED", "ERRORED", "CANCELED"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

/** Run statuses (v2 `JobRunStatus`), including the legacy ones a v2 client may see. */
export const RunStatus = z.enum([
  "PENDING",
  "QUEUED",
  "WAITING_ON_CONNECTIONS",
  "PREPROCESSING",
  "STARTED",
  "EXECUTING",
  "WAITING_TO_CONTINUE",
  "WAITING_TO_EXECUTE",
  "SUCCESS",
  "FAILURE",
  "TIMED_OUT",
  "ABORTED",
  "CANCELED",
  "UNRESOLVED_AUTH",
  "INVALID_PAYLOAD",
]);
export type RunStatus = z.infer<typeof RunStatus>;

/** Run statuses after which nothing of the run executes again (unless continued or rerun). */
export const TERMINAL_RUN_STATUSES = [
  "SUCCESS",
  "FAILURE",
  "TIMED_OUT",
  "ABORTED",
  "CANCELED",
  "UNRESOLVED_AUTH",
  "INVALID_PAYLOAD",
] as const satisfies readonly RunStatus[];

/** Whether a run status is terminal ({@link TERMINAL_RUN_STATUSES}). */
export function isTerminalRunStatus(status: RunStatus): boolean {
  return (TERMINAL_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

export const RuntimeEnvironmentType = z.enum(["PRODUCTION", "STAGING", "DEVELOPMENT", "PREVIEW"]);
export type RuntimeEnvironmentType = z.infer<typeof RuntimeEnvironmentType>;

// ---------------------------------------------------------------------------------------------------
// Events

/**
 * An event as the server reports it (v2 `ApiEventLogSchema`): the answer of `POST /api/v1/events`, and
 * `RunJobBody.event`. `id` is the user-visible event id (given by the sender or generated).
 */
export const ApiEventLog = z.object({
  id: z.string(),
  name: z.string(),
  payload: Json,
  context: Json.nullish(),
  timestamp: WireDate,
  deliverAt: WireDate.nullish(),
  deliveredAt: WireDate.nullish(),
  cancelledAt: WireDate.nullish(),
});
export type ApiEventLog = z.infer<typeof ApiEventLog>;

// ---------------------------------------------------------------------------------------------------
// Tasks

/**
 * A task as the SDK echoes it back inside a {@link RunJobResponse} (v2 `TaskSchema`). The v2 SDK sends the
 * whole {@link ServerTask} it got; the extra fields are stripped here.
 */
export const Task = z.object({
  id: z.string(),
  name: z.string(),
  icon: z.string().nullish(),
  noop: z.boolean(),
  startedAt: WireDate.nullish(),
  completedAt: WireDate.nullish(),
  delayUntil: WireDate.nullish(),
  status: TaskStatus,
  description: z.string().nullish(),
  properties: z.array(DisplayProperty).nullish(),
  outputProperties: z.array(DisplayProperty).nullish(),
  params: Json.nullish(),
  output: Json.nullish(),
  context: Json.nullish(),
  error: z.string().nullish(),
  parentId: z.string().nullish(),
  style: Style.nullish(),
  operation: z.string().nullish(),
  callbackUrl: z.string().nullish(),
  childExecutionMode: z.enum(["SEQUENTIAL", "PARALLEL"]).nullish(),
});
export type Task = z.infer<typeof Task>;

/**
 * What `POST /api/v1/runs/:runId/tasks` and `.../complete` / `.../fail` return (v2 `ServerTaskSchema`):
 * a {@link Task} plus its `idempotencyKey`, the number of `attempts` so far (1 on creation) and
 * `forceYield` (true makes the SDK yield the execution right away).
 *
 * `output` must be the parsed JSON value (not text): the v2 SDK returns it as is for a `COMPLETED` task.
 * For an `ERRORED` task v2 put the `{message, name?, stack?}` error in `output` (the SDK forwards
 * `output` as the error of a failing parent).
 */
export const ServerTask = Task.extend({
  idempotencyKey: z.string(),
  attempts: z.number(),
  forceYield: z.boolean().nullish(),
});
export type ServerTask = z.infer<typeof ServerTask>;

/**
 * A completed task shipped to the endpoint in `RunJobBody.tasks` (v2 `CachedTaskSchema`). v2 sets `id` to
 * the idempotency key too. `output` is the parsed JSON output. Baton extension: `outputMeta` is the
 * superjson `meta` of the output, present only for outputs written by a Baton SDK.
 */
export const CachedTask = z.object({
  id: z.string(),
  idempotencyKey: z.string(),
  status: TaskStatus,
  noop: z.boolean().default(false),
  output: Json.nullish(),
  parentId: z.string().nullish(),
  outputMeta: z.unknown().optional(),
});
export type CachedTask = z.infer<typeof CachedTask>;

/**
 * Baton extension: a task completion the Baton SDK defers and sends along with its next request
 * (`RunTaskBodyInput.completedTasks` or `RunJobResponse.completedTasks`). `output` is JSON text (the
 * superjson `json` part), absent for `undefined`; `outputMeta` is superjson's `meta`.
 */
export const BatonCompletedTask = z.object({
  id: z.string(),
  output: z.string().optional(),
  outputMeta: z.unknown().optional(),
  properties: z.array(DisplayProperty).optional(),
  /** When the task's body returned, on the endpoint's clock (absent: when the server applies the completion). */
  completedAt: WireDate.optional(),
});
export type BatonCompletedTask = z.infer<typeof BatonCompletedTask>;

/** The shape of a task id: `task_` and a lowercase ULID (26 Crockford base32 digits), as the server makes them. */
export const TASK_ID_PATTERN = /^task_[0-9a-hjkmnp-tv-z]{26}$/;

/**
 * Baton protocol 2: a task the endpoint started without asking the server (a plain `io.runTask` whose key the server
 * has never seen: not in `RunJobBody.tasks`, `noopTaskKeys` or `uncachedTaskKeys`, no `delayUntil`, no callback or
 * background operation). The SDK picks the id ({@link TASK_ID_PATTERN}) and reports the start later, with its next
 * request, a `/tasks/report` flush, or the execution's response; the server applies it before anything else in that
 * message, in the same transaction, as v2's task creation would have (status RUNNING, or COMPLETED for a noop).
 * `startedAt` is on the endpoint's clock (clamped by the server to its own now).
 */
export const BatonStartedTask = z.object({
  id: z.string().regex(TASK_ID_PATTERN, "must be task_ followed by a lowercase ULID"),
  idempotencyKey: z.string().min(1),
  parentId: z.string().nullish(),
  displayKey: z.string().optional(),
  name: z.string().optional(),
  icon: z.string().optional(),
  description: z.string().optional(),
  properties: z.array(DisplayProperty).optional(),
  params: z.any().optional(),
  style: Style.optional(),
  retry: RetryOptions.optional(),
  redact: RedactSchema.optional(),
  noop: z.boolean().default(false),
  parallel: z.boolean().optional(),
  startedAt: WireDate,
});
export type BatonStartedTask = z.infer<typeof BatonStartedTask>;

const completedTasksExtension = {
  /** Baton protocol 2: tasks the endpoint started on its own, applied first (in order: parents before children). */
  startedTasks: z.array(BatonStartedTask).optional(),
  /** Baton extension: deferred completions, applied after `startedTasks` and before the rest of the message. */
  completedTasks: z.array(BatonCompletedTask).optional(),
};

/**
 * Body of `POST /api/v1/runs/:runId/tasks/report` (Baton protocol 2): task starts and completions the endpoint has not
 * sent yet, flushed on their own because no other request came to carry them. The answer is {@link TaskReportResult}.
 */
export const TaskReportBody = z.object(completedTasksExtension);
export type TaskReportBody = z.infer<typeof TaskReportBody>;

/**
 * Answer of `POST /api/v1/runs/:runId/tasks/report`: the run's status after the report. `CANCELED` tells the endpoint
 * to stop the execution at its next task (nothing was stored then).
 */
export const TaskReportResult = z.object({ runStatus: z.string() });
export type TaskReportResult = z.infer<typeof TaskReportResult>;

/**
 * Options of `io.runTask` as they go on the wire (v2 `RunTaskOptionsSchema`). `noop` defaults to false;
 * `delayUntil` makes the task start `WAITING`; `callback.enabled` gives it a `callbackUrl`; `operation`
 * asks the platform to perform a fetch. Server defaults (v2): `name` "Task", `style` normal,
 * `callback.timeoutInSeconds` 3600.
 */
export const RunTaskOptions = z.object({
  name: z.string().optional(),
  delayUntil: WireDate.optional(),
  retry: RetryOptions.optional(),
  icon: z.string().optional(),
  displayKey: z.string().optional(),
  description: z.string().optional(),
  properties: z.array(DisplayProperty).optional(),
  params: z.any().optional(),
  style: Style.optional(),
  callback: z
    .object({
      enabled: z.boolean().optional(),
      timeoutInSeconds: z.number().optional(),
    })
    .optional(),
  connectionKey: z.string().optional(),
  operation: z.enum(["fetch", "fetch-response", "fetch-poll"]).optional(),
  noop: z.boolean().default(false),
  redact: RedactSchema.optional(),
  parallel: z.boolean().optional(),
});
export type RunTaskOptions = z.infer<typeof RunTaskOptions>;

/**
 * Body of `POST /api/v1/runs/:runId/tasks` (v2 `RunTaskBodyInputSchema`): the options plus the task's
 * `idempotencyKey` (also sent as the `Idempotency-Key` header) and its `parentId`. Baton extension:
 * `completedTasks`, deferred completions the server applies first, in the same transaction.
 */
export const RunTaskBodyInput = RunTaskOptions.extend({
  idempotencyKey: z.string(),
  parentId: z.string().optional(),
  ...completedTasksExtension,
});
export type RunTaskBodyInput = z.infer<typeof RunTaskBodyInput>;

/**
 * The server's normalized reading of a task-creation body (v2 `RunTaskBodyOutputSchema`): properties may
 * be partial, `params` must be JSON, and an enabled callback gets its default timeout of 3600 s.
 */
export const RunTaskBodyOutput = RunTaskBodyInput.extend({
  properties: z.array(DisplayProperty.partial()).optional(),
  params: Json.nullish(),
  callback: z
    .object({
      enabled: z.boolean(),
      timeoutInSeconds: z.number().default(3600),
    })
    .optional(),
});
export type RunTaskBodyOutput = z.infer<typeof RunTaskBodyOutput>;

/**
 * What `POST /api/v1/runs/:runId/tasks` returns when the request carries `Trigger-Version: 2023-09-29`
 * (the response must then carry the same header): the task and the next page of cached tasks, loaded
 * from the `X-Cached-Tasks-Cursor` (v2 `RunTaskResponseWithCachedTasksBodySchema`). Without the header
 * the body is a bare {@link ServerTask}.
 */
export const RunTaskResponseWithCachedTasksBody = z.object({
  task: ServerTask,
  cachedTasks: z
    .object({
      tasks: z.array(CachedTask),
      cursor: z.string().optional(),
    })
    .optional(),
});
export type RunTaskResponseWithCachedTasksBody = z.infer<typeof RunTaskResponseWithCachedTasksBody>;

/**
 * Body of `POST /api/v1/runs/:runId/tasks/:id/complete` with `Trigger-Version: 2023-11-01`
 * (v2 `CompleteTaskBodyV2InputSchema`): `output` is JSON text (`JSON.stringify` of the result; absent
 * when the result is `undefined`), `properties` the task's output properties. Baton extension:
 * `outputMeta`, superjson's `meta` for that output.
 */
export const CompleteTaskBodyInput = z.object({
  output: z.string().optional(),
  properties: z.array(DisplayProperty).optional(),
  description: z.string().optional(),
  params: z.any().optional(),
  outputMeta: z.unknown().optional(),
});
export type CompleteTaskBodyInput = z.infer<typeof CompleteTaskBodyInput>;

/** Body of `POST /api/v1/runs/:runId/tasks/:id/fail` (v2 `FailTaskBodyInputSchema`). */
export const FailTaskBody = z.object({
  error: ErrorWithStack,
});
export type FailTaskBody = z.infer<typeof FailTaskBody>;

// ---------------------------------------------------------------------------------------------------
// EXECUTE_JOB: RunJobBody -> RunJobResponse

/** Resolved auth of an integration connection, sent in `RunJobBody.connections`. */
export const ConnectionAuth = z.object({
  type: z.enum(["oauth2", "apiKey"]),
  accessToken: z.string(),
  scopes: z.array(z.string()).optional(),
  additionalFields: z.record(z.string(), z.string()).optional(),
});
export type ConnectionAuth = z.infer<typeof ConnectionAuth>;

/** The trigger source of a run (`ctx.source`). */
export const RunSourceContext = z.object({
  id: z.string(),
  metadata: z.any().optional(),
});
export type RunSourceContext = z.infer<typeof RunSourceContext>;

/** Auto-yield thresholds in ms (sent by v2 servers, ignored by the v2 SDK, honoured by the Baton SDK). */
export const AutoYieldConfig = z.object({
  startTaskThreshold: z.number(),
  beforeExecuteTaskThreshold: z.number(),
  beforeCompleteTaskThreshold: z.number(),
  afterCompleteTaskThreshold: z.number(),
});
export type AutoYieldConfig = z.infer<typeof AutoYieldConfig>;

/**
 * Body of an `EXECUTE_JOB` request (v2 `RunJobBodySchema`).
 *
 * - `tasks`: completed, non-noop tasks whose outputs the SDK replays; `cachedTaskCursor`: where the lazy
 *   loading of further cached tasks starts.
 * - `noopTasksSet`: v2's base64 bloom filter of completed noop task keys. Baton never sends it: without it
 *   a v2 SDK asks the server for every noop task (exact, one more request each).
 * - `yieldedExecutions`: keys already yielded with `io.yield`.
 * - `runChunkExecutionLimit`: the time budget of this request in ms.
 * - Baton extension: `batonProtocol` (the lower of the server's and the endpoint's announced version; sent only to
 *   endpoints that announced `x-baton-protocol`), `noopTaskKeys`, the exact idempotency keys of every completed noop
 *   task, and (protocol 2) `uncachedTaskKeys`, the keys of every other task of the run that is not in `tasks`: with
 *   the three the endpoint knows exactly which task keys the server has, so it may start the others itself.
 */
export const RunJobBody = z.object({
  event: ApiEventLog,
  job: z.object({ id: z.string(), version: z.string() }),
  run: z.object({
    id: z.string(),
    isTest: z.boolean(),
    isRetry: z.boolean().default(false),
    startedAt: WireDate,
  }),
  environment: z.object({ id: z.string(), slug: z.string(), type: RuntimeEnvironmentType }),
  organization: z.object({ id: z.string(), title: z.string(), slug: z.string() }),
  project: z.object({ id: z.string(), name: z.string(), slug: z.string() }).optional(),
  account: z.object({ id: z.string(), metadata: z.any().optional() }).optional(),
  source: RunSourceContext.optional(),
  connections: z.record(z.string(), ConnectionAuth).optional(),
  tasks: z.array(CachedTask).optional(),
  cachedTaskCursor: z.string().optional(),
  noopTasksSet: z.string().optional(),
  yieldedExecutions: z.array(z.string()).optional(),
  runChunkExecutionLimit: z.number().optional(),
  autoYieldConfig: AutoYieldConfig.optional(),
  batonProtocol: z.number().int().min(1).max(BATON_PROTOCOL_VERSION).optional(),
  noopTaskKeys: z.array(z.string()).optional(),
  uncachedTaskKeys: z.array(z.string()).optional(),
});
export type RunJobBody = z.infer<typeof RunJobBody>;

/** Where and when the SDK auto-yielded: checkpoint name, ms left and elapsed, and the budget in ms. */
export const AutoYieldMetadata = z.object({
  location: z.string(),
  timeRemaining: z.number(),
  timeElapsed: z.number(),
  limit: z.number().optional(),
});
export type AutoYieldMetadata = z.infer<typeof AutoYieldMetadata>;

/** `SUCCESS`: the run finished; `output` is its JSON return value (absent for `undefined`). */
export const RunJobSuccess = z.object({
  status: z.literal("SUCCESS"),
  output: Json.optional(),
  ...completedTasksExtension,
});
export type RunJobSuccess = z.infer<typeof RunJobSuccess>;

/** `ERROR`: user code threw; the run fails. `task` is the failed task when a task error caused it. */
export const RunJobError = z.object({
  status: z.literal("ERROR"),
  error: ErrorWithStack,
  task: Task.optional(),
  ...completedTasksExtension,
});
export type RunJobError = z.infer<typeof RunJobError>;

/** `RESUME_WITH_TASK`: the run waits on `task` (delay, callback, background operation). */
export const RunJobResumeWithTask = z.object({
  status: z.literal("RESUME_WITH_TASK"),
  task: Task,
  ...completedTasksExtension,
});
export type RunJobResumeWithTask = z.infer<typeof RunJobResumeWithTask>;

/** `RETRY_WITH_TASK`: `task` failed with `error` and is retried at `retryAt`. */
export const RunJobRetryWithTask = z.object({
  status: z.literal("RETRY_WITH_TASK"),
  task: Task,
  error: ErrorWithStack,
  retryAt: WireDate,
  ...completedTasksExtension,
});
export type RunJobRetryWithTask = z.infer<typeof RunJobRetryWithTask>;

/** `CANCELED`: the SDK found `task` canceled (the run was canceled meanwhile). */
export const RunJobCanceledWithTask = z.object({
  status: z.literal("CANCELED"),
  task: Task,
  ...completedTasksExtension,
});
export type RunJobCanceledWithTask = z.infer<typeof RunJobCanceledWithTask>;

/** `YIELD_EXECUTION`: `io.yield(key)`; re-execute right away with `key` added to `yieldedExecutions`. */
export const RunJobYieldExecution = z.object({
  status: z.literal("YIELD_EXECUTION"),
  key: z.string(),
  ...completedTasksExtension,
});
export type RunJobYieldExecution = z.infer<typeof RunJobYieldExecution>;

/** `AUTO_YIELD_EXECUTION`: the time budget ran low; re-execute right away. */
export const RunJobAutoYieldExecution = AutoYieldMetadata.extend({
  status: z.literal("AUTO_YIELD_EXECUTION"),
  ...completedTasksExtension,
});
export type RunJobAutoYieldExecution = z.infer<typeof RunJobAutoYieldExecution>;

/**
 * `AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK`: the budget ran low right after task `id` finished; the server
 * completes it with `output` (JSON text) and `properties`, then re-executes.
 */
export const RunJobAutoYieldWithCompletedTask = z.object({
  status: z.literal("AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK"),
  id: z.string(),
  properties: z.array(DisplayProperty).optional(),
  output: z.string().optional(),
  data: AutoYieldMetadata,
  ...completedTasksExtension,
});
export type RunJobAutoYieldWithCompletedTask = z.infer<typeof RunJobAutoYieldWithCompletedTask>;

/** `AUTO_YIELD_RATE_LIMIT`: an API call was rate limited; re-execute at `reset` (epoch ms). */
export const RunJobAutoYieldRateLimit = z.object({
  status: z.literal("AUTO_YIELD_RATE_LIMIT"),
  reset: z.coerce.number(),
  ...completedTasksExtension,
});
export type RunJobAutoYieldRateLimit = z.infer<typeof RunJobAutoYieldRateLimit>;

/** `INVALID_PAYLOAD`: the event payload failed the trigger's schema; `run` was never called. */
export const RunJobInvalidPayload = z.object({
  status: z.literal("INVALID_PAYLOAD"),
  errors: z.array(SchemaError),
  ...completedTasksExtension,
});
export type RunJobInvalidPayload = z.infer<typeof RunJobInvalidPayload>;

/** `UNRESOLVED_AUTH_ERROR`: integration auth could not be resolved, per integration key. */
export const RunJobUnresolvedAuthError = z.object({
  status: z.literal("UNRESOLVED_AUTH_ERROR"),
  issues: z.record(z.string(), z.object({ id: z.string(), error: z.string() })),
  ...completedTasksExtension,
});
export type RunJobUnresolvedAuthError = z.infer<typeof RunJobUnresolvedAuthError>;

/** What one child of an `io.parallel` can report (every status but `SUCCESS` and the parallel one). */
export const RunJobErrorResponse = z.discriminatedUnion("status", [
  RunJobAutoYieldExecution,
  RunJobAutoYieldWithCompletedTask,
  RunJobYieldExecution,
  RunJobAutoYieldRateLimit,
  RunJobError,
  RunJobUnresolvedAuthError,
  RunJobInvalidPayload,
  RunJobResumeWithTask,
  RunJobRetryWithTask,
  RunJobCanceledWithTask,
]);
export type RunJobErrorResponse = z.infer<typeof RunJobErrorResponse>;

/** `RESUME_WITH_PARALLEL_TASK`: the parallel parent `task` waits; `childErrors` are applied in order. */
export const RunJobResumeWithParallelTask = z.object({
  status: z.literal("RESUME_WITH_PARALLEL_TASK"),
  task: Task,
  childErrors: z.array(RunJobErrorResponse),
  ...completedTasksExtension,
});
export type RunJobResumeWithParallelTask = z.infer<typeof RunJobResumeWithParallelTask>;

/**
 * The endpoint's answer to `EXECUTE_JOB` (v2 `RunJobResponseSchema`), discriminated on `status`. Every
 * variant may carry Baton's `completedTasks` (deferred task completions, applied first).
 */
export const RunJobResponse = z.discriminatedUnion("status", [
  RunJobSuccess,
  RunJobError,
  RunJobResumeWithTask,
  RunJobRetryWithTask,
  RunJobResumeWithParallelTask,
  RunJobCanceledWithTask,
  RunJobYieldExecution,
  RunJobAutoYieldExecution,
  RunJobAutoYieldWithCompletedTask,
  RunJobAutoYieldRateLimit,
  RunJobInvalidPayload,
  RunJobUnresolvedAuthError,
]);
export type RunJobResponse = z.infer<typeof RunJobResponse>;

/** Every `RunJobResponse.status`. */
export const RunJobResponseStatus = z.enum([
  "SUCCESS",
  "ERROR",
  "RESUME_WITH_TASK",
  "RETRY_WITH_TASK",
  "RESUME_WITH_PARALLEL_TASK",
  "CANCELED",
  "YIELD_EXECUTION",
  "AUTO_YIELD_EXECUTION",
  "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK",
  "AUTO_YIELD_RATE_LIMIT",
  "INVALID_PAYLOAD",
  "UNRESOLVED_AUTH_ERROR",
]);
export type RunJobResponseStatus = z.infer<typeof RunJobResponseStatus>;

/**
 * JSON in the `x-trigger-run-metadata` response header of `EXECUTE_JOB`: whether the endpoint wants
 * `RUN_NOTIFICATION`s on success / failure of the run.
 */
export const ExecuteJobRunMetadata = z.object({
  successSubscription: z.boolean().optional(),
  failedSubscription: z.boolean().optional(),
});
export type ExecuteJobRunMetadata = z.infer<typeof ExecuteJobRunMetadata>;

// ---------------------------------------------------------------------------------------------------
// PING, VALIDATE

/** Answer to `PING` (the request carries `x-trigger-endpoint-id`; a mismatch answers `ok: false`). */
export const PingResponse = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    triggerVersion: z.string().optional(),
    triggerSdkVersion: z.string().optional(),
  }),
  z.object({
    ok: z.literal(false),
    error: z.string(),
    triggerVersion: z.string().optional(),
    triggerSdkVersion: z.string().optional(),
  }),
]);
export type PingResponse = z.infer<typeof PingResponse>;

/** Answer to `VALIDATE`: the endpoint's client id. */
export const ValidateResponse = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), endpointId: z.string(), triggerVersion: z.string().optional() }),
  z.object({ ok: z.literal(false), error: z.string(), triggerVersion: z.string().optional() }),
]);
export type ValidateResponse = z.infer<typeof ValidateResponse>;

// ---------------------------------------------------------------------------------------------------
// INDEX_ENDPOINT

/** An example payload of a job's event, shown in the dashboard's test form. */
export const EventExample = z.object({
  id: z.string(),
  name: z.string(),
  icon: z.string().optional(),
  payload: z.any().optional(),
});
export type EventExample = z.infer<typeof EventExample>;

/** The event a job listens to, as the SDK describes it (v2 `EventSpecificationSchema`). */
export const EventSpecification = z.object({
  name: z.union([z.string(), z.array(z.string())]),
  title: z.string(),
  source: z.string(),
  icon: z.string(),
  filter: EventFilter.optional(),
  properties: z.array(DisplayProperty).optional(),
  schema: z.any().optional(),
  examples: z.array(EventExample).optional(),
});
export type EventSpecification = z.infer<typeof EventSpecification>;

/** Interval schedule options: `seconds` is an integer in [20, 2_592_000] (30 days). */
export const IntervalOptions = z.object({
  seconds: z.number().int().positive().min(20).max(2_592_000),
});
export type IntervalOptions = z.infer<typeof IntervalOptions>;

/** Cron schedule options: a cron expression, evaluated in UTC. */
export const CronOptions = z.object({
  cron: z.string(),
});
export type CronOptions = z.infer<typeof CronOptions>;

export const CronMetadata = z.object({
  type: z.literal("cron"),
  options: CronOptions,
  accountId: z.string().optional(),
  metadata: z.any().optional(),
});
export type CronMetadata = z.infer<typeof CronMetadata>;

export const IntervalMetadata = z.object({
  type: z.literal("interval"),
  options: IntervalOptions,
  accountId: z.string().optional(),
  metadata: z.any().optional(),
});
export type IntervalMetadata = z.infer<typeof IntervalMetadata>;

/** A schedule (v2 `ScheduleMetadataSchema`): cron (UTC) or interval. */
export const ScheduleMetadata = z.discriminatedUnion("type", [IntervalMetadata, CronMetadata]);
export type ScheduleMetadata = z.infer<typeof ScheduleMetadata>;

/** Help shown when a trigger has no runs yet. */
export const TriggerHelp = z.object({
  noRuns: z.object({ text: z.string(), link: z.string().optional() }).optional(),
});
export type TriggerHelp = z.infer<typeof TriggerHelp>;

/** `eventTrigger` (and HTTP endpoint triggers): a static {@link EventRule}. */
export const StaticTriggerMetadata = z.object({
  type: z.literal("static"),
  title: z.union([z.string(), z.array(z.string())]),
  properties: z.array(DisplayProperty).optional(),
  rule: EventRule,
  link: z.string().optional(),
  help: TriggerHelp.optional(),
});
export type StaticTriggerMetadata = z.infer<typeof StaticTriggerMetadata>;

/** A dynamic trigger or dynamic schedule, registered at run time under `id`. */
export const DynamicTriggerMetadata = z.object({
  type: z.literal("dynamic"),
  id: z.string(),
});
export type DynamicTriggerMetadata = z.infer<typeof DynamicTriggerMetadata>;

/** `cronTrigger` / `intervalTrigger`. */
export const ScheduledTriggerMetadata = z.object({
  type: z.literal("scheduled"),
  schedule: ScheduleMetadata,
});
export type ScheduledTriggerMetadata = z.infer<typeof ScheduledTriggerMetadata>;

/** `invokeTrigger`: runs start only through `POST /api/v1/jobs/:jobId/invoke`. */
export const InvokeTriggerMetadata = z.object({
  type: z.literal("invoke"),
});
export type InvokeTriggerMetadata = z.infer<typeof InvokeTriggerMetadata>;

/** A job's trigger (v2 `TriggerMetadataSchema`), discriminated on `type`. */
export const TriggerMetadata = z.discriminatedUnion("type", [
  StaticTriggerMetadata,
  DynamicTriggerMetadata,
  ScheduledTriggerMetadata,
  InvokeTriggerMetadata,
]);
export type TriggerMetadata = z.infer<typeof TriggerMetadata>;

/** An integration's display metadata. */
export const IntegrationMetadata = z.object({
  id: z.string(),
  name: z.string(),
  instructions: z.string().optional(),
});
export type IntegrationMetadata = z.infer<typeof IntegrationMetadata>;

/** An integration used by a job, and where its auth comes from. */
export const IntegrationConfig = z.object({
  id: z.string(),
  metadata: IntegrationMetadata,
  authSource: z.enum(["HOSTED", "LOCAL", "RESOLVER"]),
});
export type IntegrationConfig = z.infer<typeof IntegrationConfig>;

/** A concurrency group shared by jobs: at most `limit` executing runs across them. */
export const ConcurrencyLimitOptions = z.object({
  id: z.string(),
  limit: z.number(),
});
export type ConcurrencyLimitOptions = z.infer<typeof ConcurrencyLimitOptions>;

/**
 * One job of an endpoint (v2 `JobMetadataSchema`). `concurrencyLimit` is a per-job limit (positive
 * integer) or a shared group `{id, limit}`; absent = no job-level limit. `internal` defaults to false.
 */
export const JobMetadata = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  event: EventSpecification,
  trigger: TriggerMetadata,
  integrations: z.record(z.string(), IntegrationConfig),
  internal: z.boolean().default(false),
  enabled: z.boolean(),
  startPosition: z.enum(["initial", "latest"]),
  preprocessRuns: z.boolean(),
  concurrencyLimit: z.union([ConcurrencyLimitOptions, z.number().int().positive()]).optional(),
});
export type JobMetadata = z.infer<typeof JobMetadata>;

/** An external trigger source of an integration (v1 or v2 shape); Baton keeps it as sent. */
export const SourceMetadata = z.looseObject({
  version: z.enum(["1", "2"]).optional(),
  channel: z.enum(["HTTP", "SQS", "SMTP"]),
  key: z.string(),
});
export type SourceMetadata = z.infer<typeof SourceMetadata>;

/** A webhook source of an integration; Baton keeps it as sent. */
export const WebhookMetadata = z.looseObject({
  key: z.string(),
});
export type WebhookMetadata = z.infer<typeof WebhookMetadata>;

const JobReference = z.object({ id: z.string(), version: z.string() });

/** A dynamic trigger and the jobs attached to it. */
export const DynamicTriggerEndpointMetadata = z.object({
  id: z.string(),
  jobs: z.array(JobReference),
  registerSourceJob: JobReference.optional(),
});
export type DynamicTriggerEndpointMetadata = z.infer<typeof DynamicTriggerEndpointMetadata>;

/** A dynamic schedule and the jobs attached to it (v2 `RegisterDynamicSchedulePayloadSchema`). */
export const DynamicScheduleEndpointMetadata = z.object({
  id: z.string(),
  jobs: z.array(JobReference),
});
export type DynamicScheduleEndpointMetadata = z.infer<typeof DynamicScheduleEndpointMetadata>;

/** An HTTP endpoint (`client.defineHttpEndpoint`). `source` may be absent when the user gave none. */
export const HttpEndpointMetadata = z.looseObject({
  id: z.string(),
  version: z.string(),
  enabled: z.boolean(),
  title: z.string().optional(),
  icon: z.string().optional(),
  properties: z.array(DisplayProperty).optional(),
  event: EventSpecification,
  immediateResponseFilter: z.unknown().optional(),
  skipTriggeringRuns: z.boolean().optional(),
  source: z.string().optional(),
});
export type HttpEndpointMetadata = z.infer<typeof HttpEndpointMetadata>;

/** The endpoint's answer to `INDEX_ENDPOINT` (v2 `IndexEndpointResponseSchema`). */
export const IndexEndpointResponse = z.object({
  jobs: z.array(JobMetadata),
  sources: z.array(SourceMetadata).default([]),
  webhooks: z.array(WebhookMetadata).optional(),
  dynamicTriggers: z.array(DynamicTriggerEndpointMetadata).default([]),
  dynamicSchedules: z.array(DynamicScheduleEndpointMetadata).default([]),
  httpEndpoints: z.array(HttpEndpointMetadata).optional(),
});
export type IndexEndpointResponse = z.infer<typeof IndexEndpointResponse>;

// ---------------------------------------------------------------------------------------------------
// Statuses (io.createStatus) and RUN_NOTIFICATION

/** Progress state of a status record. */
export const StatusUpdateState = z.enum(["loading", "success", "failure"]);
export type StatusUpdateState = z.infer<typeof StatusUpdateState>;

/** Body of `PUT /api/v1/runs/:runId/statuses/:id` (v2 `StatusUpdateSchema`). */
export const StatusUpdate = z.object({
  label: z.string().optional(),
  state: StatusUpdateState.optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type StatusUpdate = z.infer<typeof StatusUpdate>;

/** A status record of a run (`io.createStatus`), with the history of its updates. */
export const JobRunStatusRecord = StatusUpdate.extend({
  key: z.string(),
  label: z.string(),
  history: z.array(StatusUpdate),
});
export type JobRunStatusRecord = z.infer<typeof JobRunStatusRecord>;

const RunNotificationCommon = z.object({
  id: z.string(),
  statuses: z.array(JobRunStatusRecord),
  startedAt: WireDate,
  updatedAt: WireDate,
  completedAt: WireDate,
  isTest: z.boolean(),
  executionDurationInMs: z.number(),
  executionCount: z.number(),
  job: z.object({ id: z.string(), version: z.string() }),
  environment: z.object({ id: z.string(), slug: z.string(), type: RuntimeEnvironmentType }),
  organization: z.object({ id: z.string(), slug: z.string(), title: z.string() }),
  project: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  account: z.object({ id: z.string(), metadata: z.any().optional() }).optional(),
  invocation: z.object({
    id: z.string(),
    context: z.any().optional(),
    timestamp: WireDate,
    payload: z.any().optional(),
  }),
});

/**
 * Body of a `RUN_NOTIFICATION` request (v2 `RunNotification`): sent to the endpoint when a run it
 * subscribed to (see {@link ExecuteJobRunMetadata}) finishes. `ok: true` carries the output, `ok: false`
 * the error and the failing task, if any.
 */
export const RunNotification = z.discriminatedUnion("ok", [
  RunNotificationCommon.extend({
    ok: z.literal(true),
    status: z.literal("SUCCESS"),
    output: z.any().optional(),
  }),
  RunNotificationCommon.extend({
    ok: z.literal(false),
    status: z.enum(["FAILURE", "TIMED_OUT", "ABORTED", "CANCELED", "UNRESOLVED_AUTH", "INVALID_PAYLOAD"]),
    error: z.any().optional(),
    task: z
      .object({
        id: z.string(),
        cacheKey: z.string().nullable(),
        status: z.string(),
        name: z.string(),
        icon: z.string().nullable(),
        startedAt: z.string(),
        error: ErrorWithStack,
        params: z.any().optional(),
      })
      .optional(),
  }),
]);
export type RunNotification = z.infer<typeof RunNotification>;
