import type { EndpointRow, EventRecordRow, JobRow, RunRow, TaskRow } from "../projections/rows";

/** A run and its tasks as this process last wrote or read them, with indexes for task-API lookups. */
export interface CachedRun {
  readonly run: RunRow;
  readonly tasks: ReadonlyMap<string, TaskRow>;
  /** task id by idempotency key */
  readonly byKey: ReadonlyMap<string, string>;
  /** The run's event record, when this process created the run (its first claim then needs no read). */
  readonly record?: EventRecordRow;
}

/**
 * Per-process cache of the runs this process is executing, so the task API (create, complete, fail) and the
 * dispatcher's apply step need no read before their write: one statement, one commit per task.
 *
 * Safe by construction: every write to a run appends to its stream at the cached version, so a cache made stale by
 * another process (a cancel, a recovery) makes that append fail with a version conflict; the command then evicts the
 * entry and retries from a fresh read. Bounded: the oldest entries are dropped beyond `maxRuns`.
 */
export class RunCache {
  private readonly entries = new Map<string, CachedRun>();
  constructor(private readonly maxRuns = 10_000) {}

  get(runId: string): CachedRun | undefined {
    return this.entries.get(runId);
  }

  /** Stores a run and all its tasks (replaces the entry); `record` when the run was just created here. */
  set(run: RunRow, tasks: Iterable<TaskRow>, record?: EventRecordRow): void {
    const byId = new Map<string, TaskRow>();
    const byKey = new Map<string, string>();
    for (const t of tasks) {
      byId.set(t.id, t);
      byKey.set(t.idempotency_key, t.id);
    }
    this.entries.delete(run.id);
    this.entries.set(run.id, { run, tasks: byId, byKey, ...(record ? { record } : {}) });
    if (this.entries.size > this.maxRuns) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Applies a committed write: the run's new row and the task rows it changed (only when the run is cached). */
  update(run: RunRow, changedTasks: Iterable<TaskRow>): void {
    const entry = this.entries.get(run.id);
    if (!entry) return;
    const tasks = new Map(entry.tasks);
    const byKey = new Map(entry.byKey);
    for (const t of changedTasks) {
      if (t.run_id !== run.id) continue;
      tasks.set(t.id, t);
      byKey.set(t.idempotency_key, t.id);
    }
    this.entries.set(run.id, { run, tasks, byKey, ...(entry.record ? { record: entry.record } : {}) });
  }

  delete(runId: string): void {
    this.entries.delete(runId);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Endpoint rows for a few seconds (they change only when an endpoint is registered again or indexed). */
export class EndpointCache {
  private readonly entries = new Map<string, { row: EndpointRow; at: number }>();
  constructor(private readonly ttlMs = 5_000) {}

  get(id: string): EndpointRow | undefined {
    const entry = this.entries.get(id);
    if (!entry || Date.now() - entry.at > this.ttlMs) return undefined;
    return entry.row;
  }

  set(row: EndpointRow): void {
    this.entries.set(row.id, { row, at: Date.now() });
  }
}

/**
 * The enabled event-triggered jobs of each environment, so ingesting an event needs no read of `baton.jobs`.
 * Jobs change only through indexing, whose commit notifies every server process (`baton_jobs_changed`, see
 * `dispatcher/notifications.ts`); the notification, or this process's own commit, invalidates the environment's entry.
 * The cache serves nothing while no process-wide listener is connected ({@link setListening}), so a notification
 * can never be missed unnoticed. A read that raced an invalidation is not stored (generation check).
 */
/** Notification channel of job changes (payload: the environment id). */
export const JOBS_CHANGED_CHANNEL = "baton_jobs_changed";

export class JobsCache {
  private readonly entries = new Map<string, readonly JobRow[]>();
  /** bumped by every invalidation: a read that began before one is not stored */
  private generation = 0;
  private listening = false;

  /** The cached jobs of an environment, or undefined (not cached, or no listener). */
  get(environmentId: string): readonly JobRow[] | undefined {
    return this.listening ? this.entries.get(environmentId) : undefined;
  }

  /** Call before reading an environment's jobs; pass the result to {@link set}. */
  begin(): number {
    return this.generation;
  }

  /** Stores jobs read since {@link begin} returned `token`, unless anything was invalidated meanwhile. */
  set(environmentId: string, token: number, jobs: readonly JobRow[]): void {
    if (this.listening && token === this.generation) this.entries.set(environmentId, jobs);
  }

  /** Drops one environment's jobs (or all, without an id): they changed. */
  invalidate(environmentId?: string): void {
    this.generation++;
    if (environmentId === undefined) this.entries.clear();
    else this.entries.delete(environmentId);
  }

  /** Whether the process's notification listener is connected; any change clears the cache. */
  setListening(listening: boolean): void {
    this.listening = listening;
    this.invalidate();
  }
}
