import type { GetRunResponse, ListRunsQuery, ListRunsResponse, RunSummary, RunTaskWithSubtasks, StoredEventView } from "@baton/core";
import { ApiError } from "../errors";
import type { Queryable } from "../event-store/store";
import type { RunRow, TaskRow } from "../projections/rows";

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The list view of a run. */
export function toRunSummary(r: RunRow): RunSummary {
  return {
    id: r.id,
    status: r.status,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    completedAt: r.completed_at,
    createdAt: r.created_at,
    jobId: r.job_slug,
    jobVersion: r.job_version,
    eventId: r.event_record_id,
    isTest: r.is_test,
  };
}

function toTaskView(t: TaskRow, details: boolean): RunTaskWithSubtasks {
  return {
    id: t.id,
    displayKey: t.display_key,
    status: t.status,
    name: t.name,
    icon: t.icon,
    startedAt: t.started_at,
    completedAt: t.completed_at,
    parentId: t.parent_id,
    noop: t.noop,
    attempts: t.attempts,
    delayUntil: t.delay_until,
    ...(details
      ? {
          description: t.description,
          params: (t.params as RunTaskWithSubtasks["params"]) ?? null,
          output: t.status === "COMPLETED" ? ((parseJson(t.output) ?? null) as RunTaskWithSubtasks["output"]) : null,
          error: (t.error as RunTaskWithSubtasks["error"]) ?? null,
        }
      : {}),
  };
}

/** Builds the task tree (subtasks under their parent, creation order) or a flat list. */
export function taskTree(tasks: readonly TaskRow[], options: { subtasks: boolean; details: boolean }): RunTaskWithSubtasks[] {
  const sorted = [...tasks].sort((a, b) => a.seq - b.seq);
  if (!options.subtasks) return sorted.map((t) => toTaskView(t, options.details));
  const views = new Map(sorted.map((t) => [t.id, { ...toTaskView(t, options.details), subtasks: [] as RunTaskWithSubtasks[] }]));
  const roots: RunTaskWithSubtasks[] = [];
  for (const t of sorted) {
    const view = views.get(t.id)!;
    const parent = t.parent_id ? views.get(t.parent_id) : undefined;
    if (parent) parent.subtasks.push(view);
    else roots.push(view);
  }
  return roots;
}

/** `GET /api/v2/runs/:runId`: the run with its task tree, output and error. */
export function toRunView(run: RunRow, tasks: readonly TaskRow[], options: { subtasks: boolean; details: boolean }): GetRunResponse {
  return {
    ...toRunSummary(run),
    output: run.status === "SUCCESS" ? parseJson(run.output) : undefined,
    error: (run.error as GetRunResponse["error"]) ?? null,
    tasks: taskTree(tasks, options),
    statuses: [],
  };
}

/**
 * Newest-first runs of an environment, filtered by job and statuses, keyset-paginated by `(created_at, id)`.
 * @throws ApiError `validation_failed` (422) when `cursor` names no run of the environment.
 */
export async function listRuns(db: Queryable, environmentId: string, query: ListRunsQuery): Promise<ListRunsResponse> {
  let cursorAt: string | null = null;
  let cursorId: string | null = null;
  if (query.cursor) {
    const { rows } = await db.query<{ created_at: Date }>("select created_at from baton.runs where id = $1 and environment_id = $2", [query.cursor, environmentId]);
    const at = rows[0]?.created_at;
    // a cursor is the id of the last run of a page this environment was given: anything else is no place to resume
    if (!at) {
      throw new ApiError("validation_failed", `query.cursor: ${query.cursor} is not a run of this environment (use the nextCursor of the previous page)`, [
        { path: "cursor", message: "unknown run" },
      ]);
    }
    cursorAt = at.toISOString();
    cursorId = query.cursor;
  }
  const { rows } = await db.query<RunRow>(
    `select * from baton.runs
     where environment_id = $1
       and ($2::text is null or job_slug = $2)
       and ($3::text[] is null or status = any($3::text[]))
       and ($4::timestamptz is null or (created_at, id) < ($4::timestamptz, $5::text))
     order by created_at desc, id desc
     limit $6`,
    [environmentId, query.jobId ?? null, query.status ?? null, cursorAt, cursorId, query.take + 1],
  );
  const page = rows.slice(0, query.take);
  return { runs: page.map(toRunSummary), ...(rows.length > query.take ? { nextCursor: page[page.length - 1]!.id } : {}) };
}

/** A run's events in order after a position. */
export async function listRunEvents(db: Queryable, runId: string, after: string | undefined, take: number): Promise<{ events: StoredEventView[]; nextCursor?: string }> {
  const { rows } = await db.query<{ position: string; stream_id: string; version: number; type: string; data: unknown; metadata: unknown; occurred_at: Date }>(
    `select e.position::text as position, stream_id, version, type, data, metadata, occurred_at from baton.events e
     where stream_id = $1 and e.position > $2::bigint order by e.position limit $3`,
    [runId, after ?? "0", take + 1],
  );
  const page = rows.slice(0, take);
  return {
    events: page.map((r) => ({ position: r.position, streamId: r.stream_id, version: r.version, type: r.type, data: r.data, metadata: r.metadata, occurredAt: r.occurred_at })),
    ...(rows.length > take ? { nextCursor: page[page.length - 1]!.position } : {}),
  };
}
