import type { Queryable } from "../event-store/store";
import type { JobRow, RunRow } from "../projections/rows";

/** Filters of the runs list (all optional); `cursor` is the id of the last run of the previous page. */
export interface RunsFilter {
  readonly jobId?: string | undefined;
  readonly status?: string | undefined;
  /** Created at or after. */
  readonly from?: Date | undefined;
  /** Created before. */
  readonly to?: Date | undefined;
  readonly cursor?: string | undefined;
  readonly take: number;
}

/** A page of runs, newest first, keyset-paginated by `(created_at, id)`. */
export async function dashboardRuns(db: Queryable, environmentId: string, f: RunsFilter): Promise<{ runs: RunRow[]; nextCursor?: string }> {
  const { rows } = await db.query<RunRow>(
    `select r.* from baton.runs r
     left join baton.runs c on c.id = $6 and c.environment_id = r.environment_id
     where r.environment_id = $1
       and ($2::text is null or r.job_slug = $2)
       and ($3::text is null or r.status = $3)
       and ($4::timestamptz is null or r.created_at >= $4)
       and ($5::timestamptz is null or r.created_at < $5)
       and ($6::text is null or (r.created_at, r.id) < (c.created_at, c.id))
     order by r.created_at desc, r.id desc
     limit $7`,
    [environmentId, f.jobId ?? null, f.status ?? null, f.from ?? null, f.to ?? null, f.cursor ?? null, f.take + 1],
  );
  const page = rows.slice(0, f.take);
  return { runs: page, ...(rows.length > f.take ? { nextCursor: page[page.length - 1]!.id } : {}) };
}

/** A job with its latest runs (newest first). */
export interface JobWithRuns extends JobRow {
  readonly last_runs: Array<{ id: string; status: string; created_at: string }>;
  readonly run_count: number;
}

/** The jobs of an environment (internal ones excluded) with their last five runs. */
export async function dashboardJobs(db: Queryable, environmentId: string): Promise<JobWithRuns[]> {
  const { rows } = await db.query<JobWithRuns>(
    `select j.*,
       (select count(*)::int from baton.runs r where r.environment_id = j.environment_id and r.job_slug = j.slug) as run_count,
       coalesce((select json_agg(x) from (
          select r.id, r.status, r.created_at from baton.runs r
          where r.environment_id = j.environment_id and r.job_slug = j.slug
          order by r.created_at desc, r.id desc limit 5) x), '[]') as last_runs
     from baton.jobs j where j.environment_id = $1 and not j.internal order by j.slug`,
    [environmentId],
  );
  return rows;
}

/** One stored event of a run's stream, for the raw history. */
export interface HistoryEvent {
  readonly position: string;
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
  readonly occurred_at: Date;
}

/** A run's whole event history, in order. */
export async function runHistory(db: Queryable, runId: string): Promise<HistoryEvent[]> {
  const { rows } = await db.query<HistoryEvent>(
    "select position::text as position, version, type, data, metadata, occurred_at from baton.events where stream_id = $1 order by version",
    [runId],
  );
  return rows;
}
