import {
  BATON_PROTOCOL_VERSION,
  compileFastParser,
  FAST_PARSE_FAILED,
  Json,
  RunJobResponse,
  type CachedTask,
  type EventMetadata,
  type RunJobBody,
  type StoredError,
} from "@baton/core";
import { retryOnConflict, ORGANIZATION, PROJECT, StaleRunCacheError, type CommandContext, type SuspendedRun } from "../commands/context";
import { commitCarryingClaim, unitOfWorkWithClaim } from "../commands/staged-claims";
import { reviveDates, toApiEventLog } from "../commands/ingest";
import { PRIORITY, scheduleExecution } from "../commands/scheduling";
import { applyTaskReports, checkOutputSize, RUN_DATES, TASK_DATES } from "../commands/tasks";
import { callEndpoint, Hangup, type EndpointReply } from "../endpoint-client";
import { ApiError } from "../errors";
import { AppendConflictError, buildStatement, commitUrgently, UnitOfWork, type Queryable } from "../event-store/store";
import type { TimedStatement } from "./waker";
import { newId } from "../ids";
import type { Environment } from "../keys";
import { emptyProjectionState } from "../projections/reducers";
import type { EndpointRow, EventRecordRow, RunRow, TaskRow } from "../projections/rows";

/** The endpoint's answer parsed without zod when it can be (see compileFastParser); zod decides and words the rest. */
const fastRunJobResponse = compileFastParser(RunJobResponse, [Json]);

/** v2's limits on a run (reference §4.4). */
export const RUN_LIMITS = {
  /** `MAX_RUN_YIELDED_EXECUTIONS` */
  maxYields: 100,
  /** `MAX_JOB_RUN_EXECUTION_COUNT` */
  maxExecutions: 250,
  /** transport failures before the run fails (`executionFailureCount ≥ 10`) */
  maxExecutionFailures: 10,
  /** eager cached-task window in bytes (`TOTAL_CACHED_TASK_BYTE_LIMIT`) */
  cachedTaskBytes: 3_500_000,
} as const;

/** A worker whose heartbeat is older than this is presumed dead and its runs are recovered (ms). */
export const WORKER_STALE_MS = 5_000;

/** Grace added to the execution time budget before the server gives up on an endpoint's answer (ms). */
const EXECUTION_GRACE_MS = 15_000;

/** Delay of the n-th transport retry (n = failures so far): 500 ms × 1.5^n, as v2 (ms). */
export function transportRetryDelayMs(failures: number): number {
  return Math.round(500 * 1.5 ** failures);
}

/** Everything an execution needs, read in one round trip. */
interface ExecutionState {
  run: RunRow;
  tasks: TaskRow[];
  record: EventRecordRow;
  endpoint: EndpointRow;
  workerAlive: boolean;
}

/**
 * The state of a run this process just created (cached with its event record) whose endpoint it read recently: the
 * claim then needs no read. A stale entry makes the claim's append conflict, and the retry reads afresh.
 */
function cachedExecutionState(ctx: CommandContext, runId: string): ExecutionState | undefined {
  const cached = ctx.runCache.get(runId);
  if (!cached?.record || (cached.run.status !== "QUEUED" && cached.run.status !== "PENDING")) return undefined;
  const endpoint = ctx.endpointCache.get(cached.run.endpoint_id);
  if (!endpoint) return undefined;
  return { run: cached.run, tasks: [...cached.tasks.values()], record: cached.record, endpoint, workerAlive: false };
}

async function loadExecutionState(ctx: CommandContext, runId: string): Promise<ExecutionState | undefined> {
  const { rows } = await ctx.pool.query<{
    run: Record<string, unknown> | null;
    tasks: Record<string, unknown>[];
    record: Record<string, unknown> | null;
    endpoint: Record<string, unknown> | null;
    worker_alive: boolean;
  }>(
    `select row_to_json(r) as run,
       (select coalesce(json_agg(t order by t.seq), '[]') from baton.tasks t where t.run_id = r.id) as tasks,
       (select row_to_json(e) from baton.event_records e where e.id = r.event_record_id) as record,
       (select row_to_json(p) from baton.endpoints p where p.id = r.endpoint_id) as endpoint,
       exists (select 1 from baton.workers w where w.id = r.executing_worker_id
                 and w.heartbeat_at > now() - make_interval(secs => $2::double precision / 1000)) as worker_alive
     from baton.runs r where r.id = $1`,
    [runId, WORKER_STALE_MS],
  );
  const row = rows[0];
  if (!row?.run || !row.record || !row.endpoint) return undefined;
  const endpoint = reviveDates<EndpointRow>(row.endpoint, ["indexed_at", "created_at", "updated_at"]);
  ctx.endpointCache.set(endpoint);
  return {
    run: reviveDates<RunRow>(row.run, RUN_DATES),
    tasks: row.tasks.map((t) => reviveDates<TaskRow>(t, TASK_DATES)),
    record: reviveDates<EventRecordRow>(row.record, ["timestamp", "deliver_at", "delivered_at", "cancelled_at", "created_at", "updated_at"]),
    endpoint,
    workerAlive: row.worker_alive,
  };
}

const OPEN_TASK = new Set(["PENDING", "WAITING", "RUNNING"]);

/** Appends a terminal failure-like run event, closing the run's open tasks first (ERRORED, or CANCELED on time-out). */
function endRun(
  uow: UnitOfWork,
  run: RunRow,
  tasks: readonly TaskRow[],
  outcome: { type: "run.failed"; error: StoredError; taskId: string | null } | { type: "run.timed_out"; reason: string },
  durationMs: number,
  metadata: EventMetadata,
): void {
  for (const t of tasks) {
    const current = uow.state.tasks.get(t.id) ?? t;
    if (!OPEN_TASK.has(current.status)) continue;
    const runNow = uow.state.runs.get(run.id)!;
    uow.append(
      run.id,
      runNow.version,
      [
        outcome.type === "run.timed_out"
          ? { type: "task.canceled", data: { taskId: t.id } }
          : { type: "task.failed", data: { taskId: t.id, error: outcome.taskId === t.id ? outcome.error : { message: "Run failed", name: "RunFailed" } } },
      ],
      metadata,
    );
  }
  const runNow = uow.state.runs.get(run.id)!;
  uow.append(
    run.id,
    runNow.version,
    [
      outcome.type === "run.failed"
        ? { type: "run.failed", data: { error: outcome.error, taskId: outcome.taskId, executionDurationMs: durationMs } }
        : { type: "run.timed_out", data: { reason: outcome.reason, executionDurationMs: durationMs } },
    ],
    metadata,
  );
}

/**
 * What an `EXECUTE_JOB` body says about the run's tasks: `tasks`, completed non-noop tasks with their outputs (up to
 * the {@link RUN_LIMITS.cachedTaskBytes} window, in creation order), `noopKeys`, every completed noop's key, and
 * `uncachedKeys`, the keys of all other tasks (open, failed, canceled, or past the window).
 */
function cachedTasks(tasks: readonly TaskRow[]): { tasks: CachedTask[]; noopKeys: string[]; uncachedKeys: string[] } {
  const cached: CachedTask[] = [];
  const noopKeys: string[] = [];
  const uncachedKeys: string[] = [];
  let bytes = 0;
  let windowFull = false;
  for (const t of tasks) {
    if (t.status === "COMPLETED" && t.noop) {
      noopKeys.push(t.idempotency_key);
      continue;
    }
    const size = (t.output?.length ?? 0) + 200;
    if (t.status !== "COMPLETED" || windowFull || bytes + size > RUN_LIMITS.cachedTaskBytes) {
      if (t.status === "COMPLETED") windowFull = true;
      uncachedKeys.push(t.idempotency_key);
      continue;
    }
    bytes += size;
    cached.push({
      // v2 sends the idempotency key as the cached task's id
      id: t.idempotency_key,
      idempotencyKey: t.idempotency_key,
      status: "COMPLETED",
      noop: false,
      output: t.output === null ? undefined : (JSON.parse(t.output) as CachedTask["output"]),
      parentId: t.parent_id,
      ...(t.output_meta ? { outputMeta: t.output_meta } : {}),
    });
  }
  return { tasks: cached, noopKeys, uncachedKeys };
}

/**
 * The graphile task `baton.execute_run`: claims the run (one `run.started`, plus `run.resumed`/`task.resumed` when a
 * wait or retry came due, in one commit), POSTs `EXECUTE_JOB` to the endpoint, and applies the `RunJobResponse` as
 * v2 (reference §3.3) in one more commit. Exclusive: a run EXECUTING on a live worker is left alone, and a response
 * is applied only if this execution still owns the run (cancel and recovery win). Idempotent: a redelivered job whose
 * run is terminal or not due changes nothing.
 */
export async function executeRun(ctx: CommandContext, runId: string): Promise<void> {
  const metadata: EventMetadata = { actor: { type: "worker", id: ctx.workerId } };
  if (ctx.activeRuns.has(runId)) {
    // This process executes it right now. The wake-up may be the next step that execution just committed (a retry,
    // resume or yield due at once): it is served as soon as the current execution ends, never dropped.
    ctx.activeRuns.set(runId, true);
    return;
  }
  try {
    do {
      ctx.activeRuns.set(runId, false);
      await executeClaimed(ctx, runId, metadata);
    } while (ctx.activeRuns.get(runId) === true);
  } finally {
    ctx.activeRuns.delete(runId);
  }
}

/**
 * A run this process created and claimed in the same commit (see createRun), found in the run cache with its event
 * record: executed without a claim of its own. Undefined for any other run.
 */
async function preclaimed(ctx: CommandContext, runId: string): Promise<{ state: ExecutionState; env: Environment; claimedAt: Date } | undefined> {
  const cached = ctx.runCache.get(runId);
  const run = cached?.run;
  if (!cached?.record || !run || run.status !== "EXECUTING" || run.executing_worker_id !== ctx.workerId || !run.execution_started_at) return undefined;
  const env = ctx.environments.get(run.environment_id);
  if (!env) return undefined;
  let endpoint = ctx.endpointCache.get(run.endpoint_id);
  if (!endpoint) {
    const { rows } = await ctx.pool.query<EndpointRow>("select * from baton.endpoints where id = $1", [run.endpoint_id]);
    endpoint = rows[0];
    if (!endpoint) return undefined;
    ctx.endpointCache.set(endpoint);
  }
  return { state: { run, tasks: [...cached.tasks.values()], record: cached.record, endpoint, workerAlive: true }, env, claimedAt: run.execution_started_at };
}

async function executeClaimed(ctx: CommandContext, runId: string, metadata: EventMetadata): Promise<void> {
  const claim = (await preclaimed(ctx, runId)) ?? (await retryOnConflict(() => claimRun(ctx, runId, metadata), undefined, () => ctx.runCache.delete(runId)));
  if (!claim) return;
  const { state, env, claimedAt } = claim;
  // while the endpoint executes, its task-API calls find the run here instead of reading it (a staged claim's run
  // stays cached as the store has it: the first task-API call commits the claim, see StagedClaim)
  if (!("staged" in claim && claim.staged)) ctx.runCache.set(state.run, state.tasks);
  const { run, record, endpoint } = state;
  const { tasks: cache, noopKeys, uncachedKeys } = cachedTasks(state.tasks);
  const protocol = Math.min(endpoint.baton_protocol ?? 0, BATON_PROTOCOL_VERSION);
  const body: RunJobBody = {
    event: toApiEventLog(record),
    job: { id: run.job_slug, version: run.job_version },
    run: { id: run.id, isTest: run.is_test, isRetry: run.is_retry || run.execution_failure_count > 0, startedAt: run.started_at ?? claimedAt },
    environment: { id: env.id, slug: env.slug, type: env.type },
    organization: ORGANIZATION,
    project: PROJECT,
    tasks: cache,
    yieldedExecutions: run.yielded_executions,
    runChunkExecutionLimit: ctx.config.runChunkExecutionLimitMs,
    autoYieldConfig: { startTaskThreshold: 750, beforeExecuteTaskThreshold: 1500, beforeCompleteTaskThreshold: 750, afterCompleteTaskThreshold: 750 },
    ...(protocol >= 1 ? { batonProtocol: protocol, noopTaskKeys: noopKeys } : {}),
    ...(protocol >= 2 ? { uncachedTaskKeys: uncachedKeys } : {}),
  };
  // a cancel (in any process) hangs this request up, so the endpoint stops at its next task
  const abort = new Hangup();
  ctx.executionAborts.set(runId, abort);
  let reply: EndpointReply;
  try {
    reply = await callEndpoint(endpoint.url, env.apiKey, "EXECUTE_JOB", body, {
      timeoutMs: ctx.config.runChunkExecutionLimitMs + EXECUTION_GRACE_MS,
      headers: run.traceparent ? { traceparent: run.traceparent } : {},
      hangup: abort,
    });
  } finally {
    if (ctx.executionAborts.get(runId) === abort) ctx.executionAborts.delete(runId);
  }
  try {
    await retryOnConflict(
      () => applyReply(ctx, runId, claimedAt, reply, metadata),
      undefined,
      () => ctx.runCache.delete(runId),
    );
  } finally {
    ctx.runCache.delete(runId);
    // a claim still staged here was never committed (the answer could not be applied): the run is still QUEUED on
    // this worker, and the next execution claims it afresh
    const staged = ctx.stagedClaims?.get(runId);
    if (staged && !staged.committing && staged.claimedAt.getTime() === claimedAt.getTime()) ctx.stagedClaims!.delete(runId);
  }
}

async function claimRun(
  ctx: CommandContext,
  runId: string,
  metadata: EventMetadata,
): Promise<{ state: ExecutionState; env: Environment; claimedAt: Date; staged?: boolean } | undefined> {
  const state = cachedExecutionState(ctx, runId) ?? (await loadExecutionState(ctx, runId));
  if (!state) return undefined;
  const { run } = state;
  const env = ctx.environments.get(run.environment_id);
  if (!env) throw new Error(`run ${runId} belongs to unknown environment ${run.environment_id}`);
  const now = new Date();
  const uow = new UnitOfWork(emptyProjectionState(), now);
  uow.state.runs.set(run.id, run);
  for (const t of state.tasks) uow.state.tasks.set(t.id, t);
  switch (run.status) {
    case "EXECUTING":
      // exclusive: a live execution owns it (a dead worker's runs are recovered by the sweeper). The one exception is
      // this very worker with no execution of it in flight: an earlier attempt died between claim and apply.
      if (run.executing_worker_id !== ctx.workerId) return undefined;
      uow.append(run.id, run.version, [{ type: "run.yielded", data: { reason: "worker_lost", resumeAt: null, executionDurationMs: 0 } }], metadata);
      break;
    case "WAITING_TO_CONTINUE": {
      if (run.resume_at && run.resume_at.getTime() > now.getTime()) {
        reschedule(ctx, uow, run.id, run.resume_at);
        await uow.commit(ctx.pool);
        return undefined;
      }
      for (const t of state.tasks) {
        if (t.status === "WAITING" && (!t.delay_until || t.delay_until.getTime() <= now.getTime() + 5)) {
          uow.append(run.id, uow.state.runs.get(run.id)!.version, [{ type: "task.resumed", data: { taskId: t.id, status: t.noop ? "COMPLETED" : "RUNNING" } }], metadata);
        }
      }
      uow.append(run.id, uow.state.runs.get(run.id)!.version, [{ type: "run.resumed", data: { taskId: run.waiting_task_id } }], metadata);
      break;
    }
    case "PENDING":
    case "QUEUED":
    case "WAITING_TO_EXECUTE":
      if (run.resume_at && run.resume_at.getTime() > now.getTime() + 5) {
        reschedule(ctx, uow, run.id, run.resume_at);
        await uow.commit(ctx.pool);
        return undefined;
      }
      break;
    default:
      return undefined; // terminal: a redelivered or stale job
  }
  const current = uow.state.runs.get(run.id)!;
  if (current.execution_count >= RUN_LIMITS.maxExecutions) {
    endRun(uow, run, state.tasks, { type: "run.timed_out", reason: `Execution timed out after ${current.execution_count} executions` }, 0, metadata);
    await uow.commit(ctx.pool);
    return undefined;
  }
  if (current.execution_duration_ms >= ctx.config.maxExecutionTimePerRunMs) {
    endRun(uow, run, state.tasks, { type: "run.timed_out", reason: `Run exceeded its total execution time of ${ctx.config.maxExecutionTimePerRunMs} ms` }, 0, metadata);
    await uow.commit(ctx.pool);
    return undefined;
  }
  const started = { type: "run.started", data: { workerId: ctx.workerId, executionId: newId("exec"), isRetry: current.is_retry || current.execution_failure_count > 0 } } as const;
  // A run this process's in-memory queue held (QUEUED on this worker, no outbox job, no limit): its claim is staged
  // and committed with the execution's next write (see StagedClaim). One commit per execution instead of two.
  if (ctx.stagedClaims && run.status === "QUEUED" && run.queued_worker_id === ctx.workerId && run.concurrency_limit === null && current === run) {
    ctx.stagedClaims.set(run.id, { run, tasks: state.tasks, event: started, metadata, claimedAt: now });
    uow.append(run.id, run.version, [started], metadata);
    return { state: { ...state, run: uow.state.runs.get(run.id)! }, env, claimedAt: now, staged: true };
  }
  uow.append(run.id, current.version, [started], metadata);
  // the pending outbox job of this run (the fallback of an in-process dispatch, or a timer's job) is served now; a run
  // held by a process's in-memory dispatch queue has none
  if (run.queued_worker_id === null) uow.dequeue(`run:${run.id}`);
  if (run.concurrency_key && run.concurrency_limit !== null) {
    const admitted = await commitWithConcurrencySlot(ctx, uow, run.concurrency_key, run.concurrency_limit);
    if (!admitted) {
      const retry = new UnitOfWork();
      reschedule(ctx, retry, run.id, new Date(Date.now() + 200 + Math.random() * 400));
      await retry.commit(ctx.pool);
      return undefined;
    }
  } else {
    await uow.commit(ctx.pool);
  }
  const claimed = uow.state.runs.get(run.id)!;
  return { state: { ...state, run: claimed, tasks: [...uow.state.tasks.values()].sort((a, b) => a.seq - b.seq) }, env, claimedAt: now };
}

// what ending a wait needs (defined with the command context, which passes it to dispatchAt)
export type { SuspendedRun } from "../commands/context";

/**
 * Reads the runs among `runIds` that are suspended on a wait (WAITING_TO_CONTINUE), with their WAITING tasks, in one
 * query. Runs in any other state are left out.
 */
export async function loadSuspendedRuns(db: Pick<Queryable, "query">, runIds: readonly string[]): Promise<Map<string, SuspendedRun>> {
  const found = new Map<string, SuspendedRun>();
  if (!runIds.length) return found;
  const { rows } = await db.query<{ run: Record<string, unknown>; tasks: Record<string, unknown>[] }>(
    `select row_to_json(r) as run,
       (select coalesce(json_agg(t), '[]') from baton.tasks t where t.run_id = r.id and t.status = 'WAITING') as tasks
     from baton.runs r where r.id = any($1::text[]) and r.status = 'WAITING_TO_CONTINUE'`,
    [runIds],
  );
  for (const row of rows) {
    const run = reviveDates<RunRow>(row.run, RUN_DATES);
    found.set(run.id, { run, tasks: row.tasks.map((t) => reviveDates<TaskRow>(t, TASK_DATES)) });
  }
  return found;
}

/** The resumption of one suspended run at `now` (its due WAITING tasks resume, then the run), or none if not due. */
function resumption(suspended: SuspendedRun, now: Date, metadata: EventMetadata): UnitOfWork | undefined {
  const { run, tasks } = suspended;
  if (run.status !== "WAITING_TO_CONTINUE" || (run.resume_at && run.resume_at.getTime() > now.getTime() + 5)) return undefined;
  const uow = new UnitOfWork(emptyProjectionState(), now);
  uow.state.runs.set(run.id, run);
  for (const t of tasks) {
    uow.state.tasks.set(t.id, t);
    if (t.status === "WAITING" && (!t.delay_until || t.delay_until.getTime() <= now.getTime() + 5)) {
      uow.append(run.id, uow.state.runs.get(run.id)!.version, [{ type: "task.resumed", data: { taskId: t.id, status: t.noop ? "COMPLETED" : "RUNNING" } }], metadata);
    }
  }
  uow.append(run.id, uow.state.runs.get(run.id)!.version, [{ type: "run.resumed", data: { taskId: run.waiting_task_id } }], metadata);
  return uow;
}

/**
 * The one statement that resumes `suspended` when its wait comes due at `at`, prepared ahead of time so that another
 * thread can commit it at the due instant (see `waker.ts`): the resumption is built twice, for two instants a day
 * apart, and accepted only if the two differ in nothing but that instant's timestamp, which becomes the placeholder.
 * So the statement decides exactly as a resumption built at its commit time would (same tasks resumed, same rows),
 * and every time it writes is the commit time. Like every append it expects the run's version: a run that changed
 * since it was read fails the statement whole.
 * @returns undefined when the run is not resumable at `at`, or its resumption depends on the time in another way.
 */
export function resumeStatement(ctx: CommandContext, suspended: SuspendedRun, at: Date): TimedStatement | undefined {
  const metadata: EventMetadata = { actor: { type: "worker", id: ctx.workerId } };
  const build = (now: Date): { sql: string; params: unknown[]; iso: string } | undefined => {
    const uow = resumption(suspended, now, metadata);
    return uow && Object.assign(buildStatement([uow.writeSet()]), { iso: now.toISOString() });
  };
  // odd milliseconds: instants that occur in the run's data are detected below anyway
  const first = build(new Date(at.getTime() + 1));
  const second = build(new Date(at.getTime() + 86_400_000 + 7));
  if (!first || !second || first.sql !== second.sql || first.params.length !== second.params.length) return undefined;
  const params: string[] = [];
  for (const [i, p] of first.params.entries()) {
    const q = second.params[i];
    if (typeof p !== "string" || typeof q !== "string" || p.split(first.iso).join("\u0000") !== q.split(second.iso).join("\u0000")) return undefined;
    params.push(p);
  }
  return { sql: first.sql, params, placeholder: first.iso };
}

/**
 * Ends the waits of runs whose wait or retry backoff came due (v2's resumeTask): the due WAITING tasks resume (a noop
 * wait completes, a retried task runs again) and the run becomes WAITING_TO_EXECUTE, at the moment it is due. The
 * commits go through the urgent lane of group commit (ahead of queued ordinary writes), combined across runs; the
 * executions follow through the dispatcher's queue.
 *
 * `known` holds runs read ahead of their due time (no read then: the resume is decided the moment it is called). Each
 * append expects the run's version, so a run that changed meanwhile (a cancel, another process's claim) fails its
 * append: it is read afresh and resumed only if still suspended. A run that still loses a race is left to its claim,
 * which resumes it itself; exactly one `run.resumed` is ever committed per wait.
 * @returns the ids of the runs this call resumed.
 */
export async function resumeDueRuns(ctx: CommandContext, runIds: readonly string[], known: ReadonlyMap<string, SuspendedRun> = new Map()): Promise<string[]> {
  if (!runIds.length) return [];
  const metadata: EventMetadata = { actor: { type: "worker", id: ctx.workerId } };
  const resumed: string[] = [];
  const attempt = async (runs: Iterable<SuspendedRun>): Promise<string[]> => {
    const now = new Date();
    const planned: Array<{ id: string; uow: UnitOfWork }> = [];
    for (const s of runs) {
      const uow = resumption(s, now, metadata);
      if (uow) planned.push({ id: s.run.id, uow });
    }
    const results = await commitUrgently(ctx.pool, planned.map((p) => p.uow));
    const stale: string[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") resumed.push(planned[i]!.id);
      else if (r.reason instanceof AppendConflictError) stale.push(planned[i]!.id);
      else ctx.log.warn({ err: r.reason, runId: planned[i]!.id }, "resuming a due run failed; its claim will resume it");
    });
    return stale;
  };
  const unknown = runIds.filter((id) => !known.has(id));
  const stale = await attempt(runIds.flatMap((id) => known.get(id) ?? []));
  // runs not read ahead, and read-ahead states that went stale: read now (one query), then one more attempt
  const toRead = [...unknown, ...stale];
  if (toRead.length) await attempt((await loadSuspendedRuns(ctx.pool, toRead)).values()); // a conflict now: the claim decides
  return resumed;
}

/**
 * Commits a claim only if fewer than `limit` runs with the same concurrency key are EXECUTING, counted under a
 * transaction-scoped advisory lock on the key so concurrent claimers (any process) are serialized.
 */
async function commitWithConcurrencySlot(ctx: CommandContext, uow: UnitOfWork, key: string, limit: number): Promise<boolean> {
  const client = await ctx.pool.connect();
  try {
    await client.query("begin");
    await client.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [key]);
    const { rows } = await client.query<{ n: number }>(
      "select count(*)::int as n from baton.runs where concurrency_key = $1 and status = 'EXECUTING'",
      [key],
    );
    if ((rows[0]?.n ?? 0) >= limit) {
      await client.query("rollback");
      return false;
    }
    await uow.commit(client);
    await client.query("commit");
    return true;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** A resumption of a started run (waits, retries, yields, transport retries): ahead of first executions. */
function reschedule(ctx: CommandContext, uow: UnitOfWork, runId: string, at: Date | null, options?: { suspendedState?: boolean }): void {
  scheduleExecution(ctx, uow, runId, at, PRIORITY.resume, options);
}

function errorOf(value: unknown, fallback: string): StoredError {
  if (value && typeof value === "object" && typeof (value as { message?: unknown }).message === "string") {
    const v = value as { message: string; name?: unknown; stack?: unknown };
    return {
      message: v.message,
      ...(typeof v.name === "string" ? { name: v.name } : {}),
      ...(typeof v.stack === "string" ? { stack: v.stack } : {}),
    };
  }
  return { message: fallback };
}

/** Every task id a RunJobResponse refers to (its completions, its task, its parallel children). */
function referencedTaskIds(response: RunJobResponse): string[] {
  const ids = (response.completedTasks ?? []).map((c) => c.id);
  switch (response.status) {
    case "ERROR":
      if (response.task?.id) ids.push(response.task.id);
      break;
    case "RESUME_WITH_TASK":
    case "RETRY_WITH_TASK":
      ids.push(response.task.id);
      break;
    case "RESUME_WITH_PARALLEL_TASK":
      ids.push(response.task.id);
      for (const child of response.childErrors) if ("task" in child && child.task && typeof child.task === "object" && "id" in child.task) ids.push(String(child.task.id));
      break;
    case "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK":
      ids.push(response.id);
      break;
    default:
      break;
  }
  return ids;
}

/** Applies one execution's outcome, if this execution still owns the run. */
async function applyReply(ctx: CommandContext, runId: string, claimedAt: Date, reply: EndpointReply, metadata: EventMetadata): Promise<void> {
  let staged = ctx.stagedClaims?.get(runId);
  if (staged && (staged.claimedAt.getTime() !== claimedAt.getTime() || staged.committing)) {
    await staged.committing; // a task-API write committed the claim (or is committing it): the run is read as usual
    staged = undefined;
  }
  const cached = staged ? undefined : ctx.runCache.get(runId);
  // with a staged claim, the answer is applied on top of it: the claim and the answer commit together
  const claimed = staged ? unitOfWorkWithClaim(staged) : undefined;
  const state = claimed
    ? { run: claimed.run, tasks: [...staged!.tasks] }
    : cached
      ? { run: cached.run, tasks: [...cached.tasks.values()] }
      : await loadExecutionState(ctx, runId);
  if (!state) return;
  const { run, tasks } = state;
  if (run.status !== "EXECUTING" || run.executing_worker_id !== ctx.workerId || run.execution_started_at?.getTime() !== claimedAt.getTime()) {
    return; // canceled, recovered elsewhere, or already applied: this execution's answer no longer counts
  }
  // a unit of work on the run as it was loaded (the staged claim included)
  const unitOfWork = (): UnitOfWork => {
    if (staged) return unitOfWorkWithClaim(staged).uow;
    const fresh = new UnitOfWork(emptyProjectionState());
    fresh.state.runs.set(run.id, run);
    for (const t of tasks) fresh.state.tasks.set(t.id, t);
    return fresh;
  };
  const uow = claimed?.uow ?? unitOfWork();
  const commit = async (w: UnitOfWork): Promise<void> => {
    if (staged) await commitCarryingClaim(ctx, staged, w);
    else await w.commit(ctx.pool);
  };
  const durationMs = reply.durationMs;
  const now = uow.now;
  const version = (): number => uow.state.runs.get(run.id)!.version;
  const transportFailure = (error: Error): void => {
    const failures = run.execution_failure_count + 1;
    if (failures >= RUN_LIMITS.maxExecutionFailures) {
      endRun(uow, run, tasks, { type: "run.failed", error: { message: `Endpoint failed ${failures} times in a row; last error: ${error.message}`, name: "EndpointError" }, taskId: null }, durationMs, metadata);
      return;
    }
    const retryAt = new Date(now.getTime() + transportRetryDelayMs(run.execution_failure_count));
    uow.append(run.id, version(), [{ type: "run.execution_failed", data: { error: { message: error.message, name: "EndpointError" }, retryAt: retryAt.toISOString(), executionDurationMs: durationMs } }], metadata);
    reschedule(ctx, uow, run.id, retryAt);
  };

  if (!reply.ok) {
    transportFailure(reply.error);
  } else if (reply.status >= 500 || reply.status === 408 || reply.status === 429) {
    transportFailure(new Error(`endpoint answered HTTP ${reply.status}: ${reply.text.slice(0, 300)}`));
  } else if (reply.status >= 400) {
    const message = (reply.body as { message?: string; error?: string } | undefined)?.message ?? (reply.body as { error?: string } | undefined)?.error;
    endRun(uow, run, tasks, { type: "run.failed", error: { message: `endpoint answered HTTP ${reply.status}: ${typeof message === "string" ? message : reply.text.slice(0, 300)}`, name: "EndpointError" }, taskId: null }, durationMs, metadata);
  } else {
    const fast = fastRunJobResponse(reply.body);
    const parsed = fast !== FAST_PARSE_FAILED ? { success: true as const, data: fast } : RunJobResponse.safeParse(reply.body);
    if (!parsed.success) {
      endRun(uow, run, tasks, { type: "run.failed", error: { message: `endpoint answered with an invalid RunJobResponse: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, name: "ProtocolError" }, taskId: null }, durationMs, metadata);
    } else {
      const response = parsed.data;
      const startedIds = new Set((response.startedTasks ?? []).map((t) => t.id));
      const unknown = referencedTaskIds(response).filter((id) => !uow.state.tasks.has(id) && !startedIds.has(id));
      if (unknown.length && cached) {
        // tasks created through another process's API since this process cached the run: read it afresh
        throw new StaleRunCacheError(runId);
      }
      try {
        applyTaskReports(ctx, uow, run, response, metadata);
        // tasks the endpoint started itself are the run's tasks from here on (a failure closes them too)
        applyResponse(ctx, uow, run, [...uow.state.tasks.values()].filter((t) => t.run_id === run.id), response, durationMs, metadata);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        // the endpoint answered something that cannot be applied (e.g. an unknown task): the run fails, loudly
        const fresh = unitOfWork();
        endRun(fresh, run, tasks, { type: "run.failed", error: { message: `endpoint answered with a response that cannot be applied: ${error.message}`, name: "ProtocolError" }, taskId: null }, durationMs, metadata);
        await commit(fresh);
        return;
      }
    }
  }
  await commit(uow);
  if (run.concurrency_key) await admitNext(ctx, run.concurrency_key, run.concurrency_limit ?? 1);
}

function applyResponse(
  ctx: CommandContext,
  uow: UnitOfWork,
  run: RunRow,
  tasks: readonly TaskRow[],
  response: RunJobResponse,
  durationMs: number,
  metadata: EventMetadata,
): void {
  const version = (): number => uow.state.runs.get(run.id)!.version;
  const now = uow.now;
  const yieldNow = (reason: "yield" | "auto_yield" | "rate_limit", extra: { key?: string; location?: string; resumeAt?: Date } = {}): void => {
    uow.append(run.id, version(), [{ type: "run.yielded", data: { reason, key: extra.key, location: extra.location, resumeAt: extra.resumeAt?.toISOString() ?? null, executionDurationMs: durationMs } }], metadata);
    reschedule(ctx, uow, run.id, extra.resumeAt ?? null);
  };
  const waitOn = (taskId: string, reason: "delay" | "retry" | "parallel", resumeAt: Date | null): void => {
    uow.append(run.id, version(), [{ type: "run.waiting", data: { taskId, reason, resumeAt: resumeAt?.toISOString() ?? null, executionDurationMs: durationMs } }], metadata);
    // the unit of work holds the run with all its tasks (the execution's state): no read before the wake-up
    if (resumeAt) reschedule(ctx, uow, run.id, resumeAt, { suspendedState: true });
  };
  switch (response.status) {
    case "SUCCESS": {
      const output = response.output === undefined ? null : JSON.stringify(response.output);
      checkOutputSize(ctx, output, "run output");
      uow.append(run.id, version(), [{ type: "run.succeeded", data: { output, executionDurationMs: durationMs } }], metadata);
      return;
    }
    case "ERROR": {
      const taskId = response.task?.id && uow.state.tasks.has(response.task.id) ? response.task.id : null;
      endRun(uow, run, tasks, { type: "run.failed", error: errorOf(response.error, "Run failed"), taskId }, durationMs, metadata);
      return;
    }
    case "INVALID_PAYLOAD":
      uow.append(run.id, version(), [{ type: "run.invalid_payload", data: { errors: response.errors.map((e) => ({ path: e.path, message: e.message })), executionDurationMs: durationMs } }], metadata);
      return;
    case "UNRESOLVED_AUTH_ERROR":
      endRun(uow, run, tasks, { type: "run.failed", error: { message: `Unresolved integration auth: ${JSON.stringify(response.issues)}`, name: "UnresolvedAuthError" }, taskId: null }, durationMs, metadata);
      return;
    case "RESUME_WITH_TASK": {
      const task = uow.state.tasks.get(response.task.id);
      if (!task) {
        endRun(uow, run, tasks, { type: "run.failed", error: { message: `RESUME_WITH_TASK names unknown task ${response.task.id}`, name: "ProtocolError" }, taskId: null }, durationMs, metadata);
        return;
      }
      waitOn(task.id, "delay", task.status === "WAITING" ? task.delay_until ?? now : now);
      return;
    }
    case "RETRY_WITH_TASK": {
      const task = uow.state.tasks.get(response.task.id);
      if (!task) {
        endRun(uow, run, tasks, { type: "run.failed", error: { message: `RETRY_WITH_TASK names unknown task ${response.task.id}`, name: "ProtocolError" }, taskId: null }, durationMs, metadata);
        return;
      }
      const retryAt = response.retryAt;
      uow.append(run.id, version(), [{ type: "task.retry_scheduled", data: { taskId: task.id, error: errorOf(response.error, "Task failed"), retryAt: retryAt.toISOString() } }], metadata);
      waitOn(task.id, "retry", retryAt);
      return;
    }
    case "RESUME_WITH_PARALLEL_TASK": {
      for (const child of response.childErrors) {
        if (child.status === "ERROR" || child.status === "INVALID_PAYLOAD" || child.status === "UNRESOLVED_AUTH_ERROR") {
          applyResponse(ctx, uow, run, tasks, child as RunJobResponse, durationMs, metadata);
          return;
        }
      }
      let earliest: Date | null = null;
      for (const child of response.childErrors) {
        if (child.status === "RETRY_WITH_TASK") {
          const task = uow.state.tasks.get(child.task.id);
          if (!task) continue;
          uow.append(run.id, version(), [{ type: "task.retry_scheduled", data: { taskId: task.id, error: errorOf(child.error, "Task failed"), retryAt: child.retryAt.toISOString() } }], metadata);
          if (!earliest || child.retryAt < earliest) earliest = child.retryAt;
        } else if (child.status === "RESUME_WITH_TASK") {
          const at = uow.state.tasks.get(child.task.id)?.delay_until ?? now;
          if (!earliest || at < earliest) earliest = at;
        }
      }
      const parent = uow.state.tasks.get(response.task.id);
      waitOn(parent?.id ?? response.task.id, "parallel", earliest ?? now);
      return;
    }
    case "CANCELED":
      return; // the run was canceled while executing; cancel already recorded everything
    case "YIELD_EXECUTION": {
      const current = uow.state.runs.get(run.id)!;
      if (current.yielded_executions.length + 1 > RUN_LIMITS.maxYields) {
        endRun(uow, run, tasks, { type: "run.failed", error: { message: `Run has yielded too many times, the maximum is ${RUN_LIMITS.maxYields}`, name: "YieldLimitError" }, taskId: null }, durationMs, metadata);
        return;
      }
      yieldNow("yield", { key: response.key });
      return;
    }
    case "AUTO_YIELD_EXECUTION":
      yieldNow("auto_yield", { location: response.location });
      return;
    case "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK": {
      const task = uow.state.tasks.get(response.id);
      if (task && (task.status === "RUNNING" || task.status === "WAITING")) {
        const output = response.output ?? null;
        checkOutputSize(ctx, output, `output of task ${task.display_key ?? task.id}`);
        uow.append(run.id, version(), [{ type: "task.completed", data: { taskId: task.id, output, properties: response.properties } }], metadata);
      }
      yieldNow("auto_yield", { location: "before_complete_task" });
      return;
    }
    case "AUTO_YIELD_RATE_LIMIT":
      yieldNow("rate_limit", { resumeAt: new Date(response.reset) });
      return;
  }
}

/** After a run of a concurrency-limited key stops executing, wakes the oldest runs waiting for a slot. */
async function admitNext(ctx: CommandContext, key: string, limit: number): Promise<void> {
  const { rows } = await ctx.pool.query<{ id: string }>(
    `select id from baton.runs where concurrency_key = $1 and status in ('QUEUED', 'WAITING_TO_EXECUTE')
       and (resume_at is null or resume_at <= now()) order by updated_at limit $2`,
    [key, limit],
  );
  if (!rows.length) return;
  const uow = new UnitOfWork();
  for (const r of rows) scheduleExecution(ctx, uow, r.id, null);
  await uow.commit(ctx.pool);
}
