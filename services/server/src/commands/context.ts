import type pg from "pg";
import type { Logger } from "pino";
import type { ServerConfig } from "../config";
import type { Hangup } from "../endpoint-client";
import { AppendConflictError } from "../event-store/store";
import type { Environment } from "../keys";
import type { RunRow, TaskRow } from "../projections/rows";
import type { EndpointCache, JobsCache, RunCache } from "./run-cache";
import type { StagedClaim } from "./staged-claims";

/** What every command needs: the pool, settings, environments by id, a logger, and this process's worker id. */
export interface CommandContext {
  readonly pool: pg.Pool;
  readonly config: ServerConfig;
  readonly environments: ReadonlyMap<string, Environment>;
  readonly log: Logger;
  readonly workerId: string;
  /**
   * Runs this process is executing right now (an EXECUTING run of this worker that is not here was abandoned); the
   * value turns true when another wake-up of the run arrives meanwhile, to be served once the current execution ends.
   */
  readonly activeRuns: Map<string, boolean>;
  /** Aborts the in-flight `EXECUTE_JOB` request of each run this process executes (a cancel hangs it up). */
  readonly executionAborts: Map<string, Hangup>;
  /** Runs this process is executing, so task-API writes need no read first (see RunCache). */
  readonly runCache: RunCache;
  /** Claims of held runs this process executes without having committed them yet (see StagedClaim), by run id. */
  readonly stagedClaims?: Map<string, StagedClaim>;
  /** Endpoints recently read by this process (a few seconds). */
  readonly endpointCache: EndpointCache;
  /** Event-triggered jobs per environment, invalidated by indexing (see JobsCache); absent = always read. */
  readonly jobsCache?: JobsCache;
  /** Called after a commit that enqueued jobs due at `runAt` (in the future): arms a precise local timer. */
  readonly onJobScheduled?: (runAt: Date) => void;
  /**
   * Reserves one of this process's execution slots for a run that is created and claimed in the same commit, when one
   * is free right now (set when the process runs the dispatcher). Returns the release function (call it once the run
   * is handed to {@link dispatchNow}; an unused reservation expires by itself), or undefined when all slots are taken.
   */
  readonly reserveDispatch?: () => (() => void) | undefined;
  /**
   * Reserves a place in this process's in-memory dispatch queue for a run being created, when the queue has room
   * (set when the process runs the dispatcher). The run is then created QUEUED with `run.queued {workerId}` and no
   * outbox job; call the returned function with its id once that commit is done (an unused reservation expires by
   * itself). Undefined when the queue is full: the run gets an outbox job as usual.
   */
  readonly reserveLocalQueue?: () => ((runId: string) => void) | undefined;
  /** Executes a run in this process now (set when the process runs the dispatcher). */
  readonly dispatchNow?: (runId: string) => void;
  /**
   * Executes a run in this process at `at` (a local timer; the outbox job stays the durable fallback). `suspended`:
   * the run as just committed, suspended on a wait (`WAITING_TO_CONTINUE`), with all its `WAITING` tasks; a wait due
   * within 5 s is then handed to the wake-up thread at once, without reading the run first.
   */
  readonly dispatchAt?: (runId: string, at: Date, suspended?: SuspendedRun) => void;
}

/** A run suspended on a wait (`WAITING_TO_CONTINUE`), with its `WAITING` tasks: what ending the wait needs. */
export interface SuspendedRun {
  readonly run: RunRow;
  /** its WAITING tasks */
  readonly tasks: readonly TaskRow[];
}

/** The fixed organization and project every environment belongs to (v2's `ctx.organization` / `ctx.project`). */
export const ORGANIZATION = { id: "org_baton", slug: "baton", title: "Baton" } as const;
export const PROJECT = { id: "proj_default", slug: "default", name: "Default project" } as const;

/** This process's cached copy of a run lacks what an answer refers to (tasks created through another process). */
export class StaleRunCacheError extends Error {
  readonly code = "stale_run_cache";
  constructor(readonly runId: string) {
    super(`run ${runId}: this process's cached state is stale`);
    this.name = "StaleRunCacheError";
  }
}

/** A unique violation of one of these constraints means another writer won a race the command can re-read. */
const RETRYABLE_CONSTRAINTS = new Set(["event_records_environment_event_id_key", "tasks_run_idempotency_key", "runs_pkey", "tasks_pkey"]);

/**
 * Runs a command body again when it lost an optimistic-concurrency race (a stream moved, or a concurrent duplicate
 * inserted the same event id / task key first), read a stale cached run, or was chosen as a deadlock victim. The body re-reads state on each attempt; `onConflict` runs before
 * each retry (e.g. to evict a cached run).
 */
export async function retryOnConflict<T>(body: () => Promise<T>, attempts = 20, onConflict?: (error: unknown) => void): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await body();
    } catch (error) {
      const code = (error as { code?: string; constraint?: string }).code;
      const constraint = (error as { constraint?: string }).constraint;
      const retryable =
        error instanceof AppendConflictError ||
        error instanceof StaleRunCacheError ||
        (code === "23505" && constraint !== undefined && RETRYABLE_CONSTRAINTS.has(constraint)) ||
        // a deadlock or serialization failure rolled the statement back whole: it can simply run again
        code === "40P01" ||
        code === "40001";
      if (!retryable || i >= attempts) throw error;
      onConflict?.(error);
      // small jittered pause so racing writers spread out
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * i)));
    }
  }
}
