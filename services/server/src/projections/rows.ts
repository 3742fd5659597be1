/**
 * Row types of the projection tables (one interface per table, as in `migrations/000002_projections.sql`).
 * Timestamps are `Date`, JSON columns are parsed values, `output` columns hold the exact JSON text a task or run
 * returned (text, not jsonb, so key order and formatting survive replay).
 */

export interface RunRow {
  id: string;
  environment_id: string;
  job_slug: string;
  job_version: string;
  endpoint_id: string;
  event_record_id: string;
  number: number | null;
  status: RunStatus;
  is_test: boolean;
  is_retry: boolean;
  created_at: Date;
  queued_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
  output: string | null;
  output_meta: unknown;
  error: unknown;
  execution_count: number;
  execution_failure_count: number;
  execution_duration_ms: number;
  yielded_executions: string[];
  executing_worker_id: string | null;
  execution_started_at: Date | null;
  /** The server process whose in-memory dispatch queue holds this QUEUED run (it has no outbox job); else null. */
  queued_worker_id: string | null;
  waiting_task_id: string | null;
  resume_at: Date | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  task_count: number;
  traceparent: string | null;
  version: number;
}

export interface TaskRow {
  id: string;
  run_id: string;
  idempotency_key: string;
  parent_id: string | null;
  depth: number;
  seq: number;
  name: string;
  display_key: string | null;
  icon: string | null;
  description: string | null;
  params: unknown;
  properties: unknown;
  output_properties: unknown;
  style: unknown;
  noop: boolean;
  operation: string | null;
  parallel: boolean;
  status: TaskStatus;
  delay_until: Date | null;
  retry: unknown;
  redact: unknown;
  output: string | null;
  output_meta: unknown;
  error: unknown;
  attempts: number;
  attempt_log: TaskAttempt[];
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

/** One attempt of a task, as shown in the dashboard's retries table. Times are ISO strings. */
export interface TaskAttempt {
  number: number;
  status: "PENDING" | "STARTED" | "COMPLETED" | "ERRORED" | "CANCELED";
  startedAt: string | null;
  completedAt: string | null;
  runAt: string | null;
  error: unknown;
}

export interface EventRecordRow {
  id: string;
  environment_id: string;
  event_id: string;
  name: string;
  source: string;
  payload: unknown;
  context: unknown;
  payload_type: string;
  timestamp: Date;
  deliver_at: Date;
  delivered_at: Date | null;
  cancelled_at: Date | null;
  is_test: boolean;
  internal: boolean;
  run_ids: string[];
  created_at: Date;
  updated_at: Date;
  version: number;
}

export interface JobRow {
  environment_id: string;
  slug: string;
  name: string;
  endpoint_id: string;
  current_version: string;
  latest_version: string;
  trigger: unknown;
  event: unknown;
  enabled: boolean;
  internal: boolean;
  concurrency_limit: number | null;
  concurrency_group: string | null;
  integrations: unknown;
  created_at: Date;
  updated_at: Date;
  version: number;
}

export interface JobVersionRow {
  environment_id: string;
  job_slug: string;
  job_version: string;
  metadata: unknown;
  first_indexed_at: Date;
  last_indexed_at: Date;
}

export interface EndpointRow {
  id: string;
  environment_id: string;
  slug: string;
  url: string;
  index_status: "PENDING" | "SUCCESS" | "FAILURE";
  indexed_at: Date | null;
  index_error: string | null;
  trigger_version: string | null;
  sdk_version: string | null;
  baton_protocol: number | null;
  job_count: number;
  created_at: Date;
  updated_at: Date;
  version: number;
}

/** Run statuses (SPEC §7, as v2). */
export const RUN_STATUSES = [
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
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run in one of these statuses never changes status again (except `continue`, which is its own event). */
export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set([
  "SUCCESS",
  "FAILURE",
  "TIMED_OUT",
  "CANCELED",
  "INVALID_PAYLOAD",
]);

export const TASK_STATUSES = ["PENDING", "WAITING", "RUNNING", "COMPLETED", "ERRORED", "CANCELED"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Projection tables: name, primary-key columns, and every column (the order used for upserts). */
export const PROJECTION_TABLES = {
  runs: { table: "baton.runs", key: ["id"] },
  tasks: { table: "baton.tasks", key: ["id"] },
  event_records: { table: "baton.event_records", key: ["id"] },
  jobs: { table: "baton.jobs", key: ["environment_id", "slug"] },
  job_versions: { table: "baton.job_versions", key: ["environment_id", "job_slug", "job_version"] },
  endpoints: { table: "baton.endpoints", key: ["id"] },
} as const;
export type ProjectionName = keyof typeof PROJECTION_TABLES;

export interface ProjectionRows {
  runs: RunRow;
  tasks: TaskRow;
  event_records: EventRecordRow;
  jobs: JobRow;
  job_versions: JobVersionRow;
  endpoints: EndpointRow;
}
