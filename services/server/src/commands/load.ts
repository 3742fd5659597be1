import type { Queryable } from "../event-store/store";
import { emptyProjectionState, type ProjectionState } from "../projections/reducers";
import type { EventRecordRow, JobRow, RunRow, TaskRow } from "../projections/rows";

/** Loads one run (or undefined). */
export async function loadRun(db: Queryable, runId: string, environmentId?: string): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>(
    "select * from baton.runs where id = $1 and ($2::text is null or environment_id = $2)",
    [runId, environmentId ?? null],
  );
  return rows[0];
}

/** Loads a run's tasks in creation order. */
export async function loadTasks(db: Queryable, runId: string): Promise<TaskRow[]> {
  const { rows } = await db.query<TaskRow>("select * from baton.tasks where run_id = $1 order by seq", [runId]);
  return rows;
}

export async function loadEventRecord(db: Queryable, id: string): Promise<EventRecordRow | undefined> {
  const { rows } = await db.query<EventRecordRow>("select * from baton.event_records where id = $1", [id]);
  return rows[0];
}

export async function loadJob(db: Queryable, environmentId: string, slug: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>("select * from baton.jobs where environment_id = $1 and slug = $2", [
    environmentId,
    slug,
  ]);
  return rows[0];
}

/** A projection state pre-filled with a run and its tasks (what run-stream commands reduce over). */
export function stateWithRun(run: RunRow, tasks: readonly TaskRow[] = []): ProjectionState {
  const state = emptyProjectionState();
  state.runs.set(run.id, run);
  for (const t of tasks) state.tasks.set(t.id, t);
  return state;
}
