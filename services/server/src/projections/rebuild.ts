import type pg from "pg";
import { foldEvents, readAll, readStream, type Queryable } from "../event-store/store";
import { emptyProjectionState, type ProjectionState } from "./reducers";
import { PROJECTION_TABLES, type ProjectionName, type RunRow, type TaskRow } from "./rows";

const BATCH = 5_000;

/**
 * Recomputes every projection from `baton.events` alone: folds all events through the reducers, then replaces the
 * projection tables' contents in one transaction (readers see the old state until it commits).
 * @returns the number of events read and rows written per projection.
 */
export async function rebuildProjections(pool: pg.Pool): Promise<{ events: number; rows: Record<ProjectionName, number> }> {
  const state = emptyProjectionState();
  let after = "0";
  let events = 0;
  for (;;) {
    const batch = await readAll(pool, { afterPosition: after, limit: BATCH });
    if (!batch.length) break;
    foldEvents(batch, state);
    events += batch.length;
    after = batch[batch.length - 1]!.position;
  }
  const client = await pool.connect();
  const rows = {} as Record<ProjectionName, number>;
  try {
    await client.query("begin");
    // children first (tasks reference runs)
    await client.query(
      "truncate baton.tasks, baton.runs, baton.event_records, baton.jobs, baton.job_versions, baton.endpoints",
    );
    for (const projection of ["runs", "tasks", "event_records", "jobs", "job_versions", "endpoints"] as const) {
      rows[projection] = await insertAll(client, projection, state);
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
  return { events, rows };
}

async function insertAll(db: Queryable, projection: ProjectionName, state: ProjectionState): Promise<number> {
  const all = [...state[projection].values()];
  const { table } = PROJECTION_TABLES[projection];
  for (let i = 0; i < all.length; i += 1000) {
    const chunk = all.slice(i, i + 1000);
    const columns = Object.keys(chunk[0] as object).map((c) => `"${c}"`).join(", ");
    await db.query(
      `insert into ${table} (${columns}) select ${columns} from jsonb_populate_recordset(null::${table}, $1::jsonb)`,
      [JSON.stringify(chunk)],
    );
  }
  return all.length;
}

/** A run and its tasks as of one moment of the event store. */
export interface RunSnapshot {
  readonly run: RunRow | undefined;
  /** Tasks in creation order. */
  readonly tasks: TaskRow[];
  /** Position of the last event of the run at or before the requested position ("0" when none). */
  readonly position: string;
}

/**
 * Point-in-time state of one run: folds the run's stream up to global position `position` (inclusive).
 * `run` is undefined when the run did not exist yet.
 */
export async function runStateAt(db: Queryable, runId: string, position: string | bigint | number): Promise<RunSnapshot> {
  const events = await readStream(db, runId, { toPosition: String(position) });
  const state = foldEvents(events);
  return {
    run: state.runs.get(runId),
    tasks: [...state.tasks.values()].sort((a, b) => a.seq - b.seq),
    position: events[events.length - 1]?.position ?? "0",
  };
}
