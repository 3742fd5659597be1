import { hostname } from "node:os";
import type { BatonEventBody } from "@baton/core";
import { Logger as GraphileLogger, run, type Runner, type TaskList } from "graphile-worker";
import type { CommandContext } from "../commands/context";
import { deliverScheduledEvent, TASKS } from "../commands/ingest";
import { fireScheduleSlot } from "../commands/schedules";
import { AppendConflictError, UnitOfWork } from "../event-store/store";
import type { RunRow } from "../projections/rows";
import { loadRun } from "../commands/load";
import { PRIORITY, scheduleExecution } from "../commands/scheduling";
import { executeRun, loadSuspendedRuns, resumeDueRuns, resumeStatement, type SuspendedRun, WORKER_STALE_MS } from "./execute-run";
import { connectionSettings, Waker, type WakeResult } from "./waker";

/** How often a process proves it is alive, and looks for runs of dead workers (ms). */
const HEARTBEAT_MS = 1_000;
/** graphile-worker's poll for future jobs (ms); local timers wake it precisely for jobs this process scheduled. */
const POLL_INTERVAL_MS = 1_000;
/** First and longest pause before graphile-worker is started again after it stopped by itself (ms). */
const RUNNER_RESTART_MIN_MS = 500;
const RUNNER_RESTART_MAX_MS = 30_000;

/** Local timers are armed for wake-ups due within this horizon (ms); later ones are armed by a periodic scan. */
const TIMER_HORIZON_MS = 120_000;
/** How often the scan arms timers for executions due within the horizon that this process has no timer for (ms). */
const TIMER_SCAN_MS = 30_000;
/** A run's state is read this long before its wake-up is due, so its wait ends on time without a read then (ms). */
const PREFETCH_LEAD_MS = 5_000;

/** How long a reserved execution slot (`reserveDispatch`) is held for a commit that may never come (ms). */
const RESERVATION_TTL_MS = 5_000;

/**
 * Runs a process may hold in its in-memory dispatch queue without outbox jobs, per execution slot
 * (`workerConcurrency`); beyond that, new runs get outbox jobs (graphile-worker's queue in Postgres) as before.
 */
const LOCAL_QUEUE_PER_SLOT = 32;

/**
 * Places promised to units of work that are not committed yet (a slot for a run claimed in its creation commit, a
 * place in the in-memory queue): each counts as taken until its release, or {@link RESERVATION_TTL_MS} at most (a unit
 * of work that is never committed gives its place back by itself).
 */
class Reservations {
  count = 0;

  /** Takes a place. @returns its release (calls after the first do nothing). */
  take(): () => void {
    this.count++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.count--;
      clearTimeout(expiry);
    };
    const expiry = setTimeout(release, RESERVATION_TTL_MS);
    expiry.unref();
    return release;
  }
}

/** How often a hand-over to the outbox that failed (see {@link handRunToOutbox}) is tried again (ms). */
const HAND_OVER_RETRY_MS = 30_000;
/** Delay before the n-th (from 0) in-process retry of a failed execution: 500 ms × 2^n, at most 30 s (ms). */
function localRetryDelayMs(n: number): number {
  return Math.min(30_000, 500 * 2 ** n);
}

/** The dispatcher of one server process: graphile-worker tasks, liveness heartbeat, recovery, precise timers. */
export interface Dispatcher {
  /** The command context of this process with in-process dispatch wired in (use it for the HTTP app too). */
  readonly ctx: CommandContext;
  /** Arms a timer that wakes the workers when a job scheduled for `at` comes due. */
  wakeAt(at: Date): void;
  /** Executes a run in this process now (bounded by `workerConcurrency`; beyond it, in arrival order). */
  dispatchNow(runId: string): void;
  /**
   * Executes a run in this process at `at` (a local timer; the run's outbox job is the fallback). `suspended`: the
   * run's state as just committed (see `CommandContext.dispatchAt`).
   */
  dispatchAt(runId: string, at: Date, suspended?: SuspendedRun): void;
  /** Stops taking jobs, waits for running ones, removes this worker's liveness row. */
  stop(): Promise<void>;
  /**
   * The graphile-worker runner in use now (a new one after graphile-worker stopped by itself) and how many times it
   * was started again.
   * @internal for tests
   */
  readonly graphile: { readonly runner: Runner; readonly restarts: number };
}

/** Registers this process in `baton.workers` (before any run can be claimed with its id). */
export async function registerWorker(ctx: CommandContext): Promise<void> {
  await ctx.pool.query(
    `insert into baton.workers (id, hostname, pid) values ($1, $2, $3)
     on conflict (id) do update set heartbeat_at = now()`,
    [ctx.workerId, hostname(), process.pid],
  );
}

/**
 * Recovers the runs of a worker that stopped heartbeating (killed, crashed, partitioned), of a dead process on this
 * host, or of one that is gone from `baton.workers`:
 * - a run left EXECUTING gets `run.yielded {reason: "worker_lost"}` and a new execution job; its completed tasks stay
 *   cached and the task that was in flight runs again (at-least-once, with its stable idempotency key);
 * - a QUEUED run its in-memory dispatch queue held gets `run.queued {reason: "worker_lost"}` and an execution job.
 * @returns the ids of the recovered runs.
 */
export async function recoverLostRuns(ctx: CommandContext): Promise<string[]> {
  // The workers that runs name, found by skip scans of the two partial indexes (one index probe per distinct worker),
  // so this once-a-second sweep costs the same with 10 or 100,000 runs held or executing. A worker missing from
  // baton.workers (its row deleted) comes back with `missing`.
  const { rows: workers } = await ctx.pool.query<{ id: string; hostname: string | null; pid: number | null; stale: boolean | null; missing: boolean }>(
    `with recursive held(id) as (
       (select queued_worker_id from baton.runs where queued_worker_id is not null order by queued_worker_id limit 1)
       union all
       select (select r.queued_worker_id from baton.runs r where r.queued_worker_id > held.id order by r.queued_worker_id limit 1)
       from held where held.id is not null
     ), executing(id) as (
       (select executing_worker_id from baton.runs where status = 'EXECUTING' and executing_worker_id is not null
        order by executing_worker_id limit 1)
       union all
       select (select r.executing_worker_id from baton.runs r where r.status = 'EXECUTING' and r.executing_worker_id > executing.id
               order by r.executing_worker_id limit 1)
       from executing where executing.id is not null
     ), named as (select id from held where id is not null union select id from executing where id is not null)
     select n.id, w.hostname, w.pid, w.heartbeat_at < now() - make_interval(secs => $1::double precision / 1000) as stale,
            w.id is null as missing
     from named n left join baton.workers w on w.id = n.id`,
    [WORKER_STALE_MS],
  );
  const dead = workers
    .filter((w) => w.id !== ctx.workerId && (w.missing || w.stale || (w.hostname === hostname() && !pidAlive(w.pid!))))
    .map((w) => w.id);
  if (!dead.length) return [];
  const { rows } = await ctx.pool.query<{ id: string; executing_worker_id: string | null }>(
    "select id, executing_worker_id from baton.runs where status = 'EXECUTING' and executing_worker_id = any($1::text[])",
    [dead],
  );
  const recovered: string[] = [];
  for (const r of rows) {
    const run = await loadRun(ctx.pool, r.id);
    if (!run || run.status !== "EXECUTING" || run.executing_worker_id !== r.executing_worker_id) continue;
    const event = { type: "run.yielded", data: { reason: "worker_lost", resumeAt: null, executionDurationMs: 0 } } as const;
    // false or a failure: someone else changed the run first (its own worker came back, or another process recovered it)
    if (await requeueRun(ctx, run, event, PRIORITY.resume).catch(() => false)) recovered.push(run.id);
  }
  const { rows: queued } = await ctx.pool.query<{ id: string }>("select id from baton.runs where queued_worker_id = any($1::text[])", [dead]);
  if (queued.length) recovered.push(...(await requeueRuns(ctx, queued.map((r) => r.id), "worker_lost")));
  await ctx.pool.query("delete from baton.workers where id = any($1::text[]) and id <> $2", [dead, ctx.workerId]);
  return recovered;
}

/**
 * Gives runs held by a process's in-memory dispatch queue (QUEUED with `queued_worker_id`) back to the outbox: each
 * gets `run.queued {workerId: null, reason}` and an execution job, in one commit per run (combined by group commit).
 * A run that changed meanwhile (claimed, canceled) is left alone.
 * @returns the ids of the runs queued again.
 */
export async function requeueRuns(ctx: CommandContext, runIds: readonly string[], reason: "worker_lost" | "worker_stopped"): Promise<string[]> {
  if (!runIds.length) return [];
  const { rows } = await ctx.pool.query<RunRow>(
    "select * from baton.runs where id = any($1::text[]) and status = 'QUEUED' and queued_worker_id is not null",
    [runIds],
  );
  const requeued: string[] = [];
  await Promise.all(
    rows.map(async (run) => {
      // false or a failure: claimed, canceled or recovered by someone else first
      if (await requeueRun(ctx, run, { type: "run.queued", data: { workerId: null, reason } }, PRIORITY.initial).catch(() => false)) requeued.push(run.id);
    }),
  );
  return requeued;
}

/**
 * Appends `event` (a `run.queued` or `run.yielded` that gives the run back to the outbox) to `run` as read, with an
 * execution job, in one commit.
 * @returns false when another writer changed the run first (an append conflict).
 * @throws any other failure of the commit (e.g. Postgres unreachable).
 */
async function requeueRun(ctx: CommandContext, run: RunRow, event: Extract<BatonEventBody, { type: "run.queued" | "run.yielded" }>, priority: number): Promise<boolean> {
  const uow = new UnitOfWork();
  uow.state.runs.set(run.id, run);
  uow.append(run.id, run.version, [event], { actor: { type: "worker", id: ctx.workerId } });
  scheduleExecution(ctx, uow, run.id, null, priority);
  try {
    await uow.commit(ctx.pool);
    return true;
  } catch (error) {
    if (error instanceof AppendConflictError) return false;
    throw error;
  }
}

/**
 * Gives a run this process could not execute in-process to the outbox: held by its queue (`QUEUED` on this worker) it
 * gets `run.queued {workerId: null, reason: "execution_failed"}`, claimed by this worker with no execution in flight
 * `run.yielded {reason: "execution_failed"}`, and either one an execution job due now, in one commit (`ctx` without
 * in-process dispatch, so graphile-worker runs it). A run in any other state already has its job or needs none.
 * @returns whether the run was handed over (false also when another writer changed it first).
 * @throws what the read or the commit throws (e.g. Postgres unreachable).
 */
export async function handRunToOutbox(ctx: CommandContext, runId: string): Promise<boolean> {
  const run = await loadRun(ctx.pool, runId);
  if (run?.status === "QUEUED" && run.queued_worker_id === ctx.workerId) {
    return await requeueRun(ctx, run, { type: "run.queued", data: { workerId: null, reason: "execution_failed" } }, PRIORITY.resume);
  }
  if (run?.status === "EXECUTING" && run.executing_worker_id === ctx.workerId && !ctx.activeRuns.has(run.id)) {
    const event = { type: "run.yielded", data: { reason: "execution_failed", resumeAt: null, executionDurationMs: 0 } } as const;
    return await requeueRun(ctx, run, event, PRIORITY.resume);
  }
  return false;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Starts graphile-worker with Baton's tasks (`baton.execute_run`, `baton.deliver_event`, `baton.schedule`), the
 * heartbeat and the recovery sweep. Task handlers are idempotent, so graphile's at-least-once delivery is safe.
 */
export async function startDispatcher(base: CommandContext): Promise<Dispatcher> {
  await registerWorker(base);
  let stopped = false;
  // in-process execution: right after the commit that calls for it, or at its time (no queue round trip);
  // resumed runs (their wait or backoff ended) go ahead of first executions, as graphile's PRIORITY.resume
  let running = 0;
  const backlog: string[] = [];
  const resumedBacklog: string[] = [];
  /** QUEUED runs of this worker's in-memory queue (`queued_worker_id`, no outbox job) not yet taken up for execution */
  const held = new Set<string>();
  /** failed in-process executions so far, by run (for the retry backoff) */
  const failures = new Map<string, number>();
  const retryTimers = new Set<NodeJS.Timeout>();
  /**
   * An execution of this process failed on the server's side (e.g. Postgres unreachable, or its answer could not be
   * committed). The run may have no outbox job: claimed in its creation commit, held by the in-memory queue, or claimed
   * from its job (the claim removes it). So it is tried again here with backoff, then handed to the outbox; a run that
   * has a job is served by whichever comes first (claims are exclusive).
   */
  const executionFailed = (runId: string, error: unknown): void => {
    const n = failures.get(runId) ?? 0;
    if (stopped) return void failures.delete(runId);
    if (n >= ctx.config.localRetryAttempts) {
      failures.delete(runId);
      ctx.log.error({ err: error, runId, attempts: n + 1 }, "in-process execution failed; handing the run to the outbox");
      handOver(runId);
      return;
    }
    failures.set(runId, n + 1);
    ctx.log.warn({ err: error, runId, attempt: n + 1 }, "in-process execution failed; trying again");
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      dispatchNow(runId);
    }, localRetryDelayMs(n));
    timer.unref();
    retryTimers.add(timer);
  };
  const pump = (): void => {
    while (!stopped && running < ctx.config.workerConcurrency && (resumedBacklog.length || backlog.length)) {
      const runId = resumedBacklog.shift() ?? backlog.shift()!;
      held.delete(runId);
      running++;
      executeRun(ctx, runId)
        .then(
          () => failures.delete(runId),
          (error: unknown) => executionFailed(runId, error),
        )
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  // a run given up here may have no outbox job (claimed in its creation commit, held by the queue, or claimed after its
  // job was removed): it gets one, with graphile's attempts and backoff from then on; tried again while that fails
  const handOver = (runId: string): void => {
    if (stopped) return;
    handRunToOutbox(base, runId).catch((error: unknown) => {
      ctx.log.warn({ err: error, runId }, `handing the run to the outbox failed; trying again in ${HAND_OVER_RETRY_MS / 1000} s`);
      const timer = setTimeout(() => {
        retryTimers.delete(timer);
        handOver(runId);
      }, HAND_OVER_RETRY_MS);
      timer.unref();
      retryTimers.add(timer);
    });
  };
  const dispatchNow = (runId: string): void => {
    if (stopped) return;
    if (ctx.activeRuns.has(runId)) {
      // the next step of an execution of this process (a retry, resume or yield due at once): that execution
      // serves it as soon as it ends, in its own slot, instead of queueing behind first executions
      void executeRun(ctx, runId);
      return;
    }
    backlog.push(runId);
    pump();
  };
  // slots promised to runs being created and claimed in one commit (createRun): free capacity counts them as taken
  const slotReservations = new Reservations();
  const reserveDispatch = (): (() => void) | undefined => {
    if (stopped || running + backlog.length + resumedBacklog.length + slotReservations.count >= ctx.config.workerConcurrency) return undefined;
    return slotReservations.take();
  };
  // places promised to runs being created QUEUED on this worker (createRun) before their commit
  const queueReservations = new Reservations();
  const reserveLocalQueue = (): ((runId: string) => void) | undefined => {
    if (stopped || held.size + queueReservations.count >= ctx.config.workerConcurrency * LOCAL_QUEUE_PER_SLOT) return undefined;
    const release = queueReservations.take();
    return (runId: string): void => {
      release();
      if (stopped) {
        // committed while this process stops: handed to the outbox (else recovery does it once this worker is gone)
        void requeueRuns(base, [runId], "worker_stopped").catch(() => undefined);
        return;
      }
      held.add(runId);
      backlog.push(runId);
      pump();
    };
  };
  const dispatchResumed = (runId: string): void => {
    if (stopped) return;
    resumedBacklog.push(runId);
    pump();
  };

  // Precise waits. Each run due within the horizon has an arming: its state is read PREFETCH_LEAD_MS before it is due
  // (one query per tick for all runs read then), and the statement that ends its wait is handed to the wake-up thread,
  // which commits it at the due instant on its own connection. Without that thread (or when a run's resumption cannot
  // be prepared) a timer here ends the wait, with the state read ahead when there is one, through the urgent lane of
  // group commit. Either way the execution follows through the resumed lane of the dispatch queue.
  interface Arming {
    readonly token: number;
    readonly at: Date;
    timer?: NodeJS.Timeout;
    /** the wake-up thread holds it */
    handedOver?: boolean;
    /** its state is being read ahead */
    reading?: boolean;
    /** it came due while its state was being read: the wait ends when the read is back */
    dueWhileReading?: boolean;
  }
  let tokens = 0;
  const armings = new Map<string, Arming>();
  /** runs read ahead: their state, or null when they were not suspended on a wait (nothing to end then) */
  const ahead = new Map<string, SuspendedRun | null>();
  const due = new Set<string>();
  let flushScheduled = false;
  const resumeDue = (): void => {
    flushScheduled = false;
    if (stopped || !due.size) return;
    const ids = [...due];
    due.clear();
    const known = new Map<string, SuspendedRun>();
    const toResume: string[] = [];
    for (const id of ids) {
      const state = ahead.get(id);
      if (state) known.set(id, state);
      // a run not suspended when read ahead has no wait to end (had it suspended since, it would have been re-armed)
      if (state !== null) toResume.push(id);
      ahead.delete(id);
    }
    resumeDueRuns(ctx, toResume, known)
      .catch((error: unknown) => ctx.log.warn({ err: error }, "resuming due runs failed; their claims will resume them"))
      .finally(() => {
        for (const id of ids) dispatchResumed(id);
      });
  };
  const endWait = (runId: string): void => {
    due.add(runId);
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(resumeDue);
  };
  const fireAt = (runId: string, arming: Arming): void => {
    const timer = setTimeout(() => {
      if (armings.get(runId) !== arming) return;
      // handed over while the thread was starting and it is not up yet: ended here too (whichever commits first
      // wins; the other's append conflicts)
      if (arming.handedOver && waker?.ready) return; // the thread ends it
      if (arming.reading) {
        arming.dueWhileReading = true; // no second read: the one in flight serves
        return;
      }
      armings.delete(runId);
      endWait(runId);
    }, Math.max(0, arming.at.getTime() - Date.now()));
    timer.unref();
    arming.timer = timer;
  };
  const onWoken = (results: readonly WakeResult[]): void => {
    for (const r of results) {
      const current = armings.get(r.runId)?.token === r.token;
      if (current) {
        armings.delete(r.runId);
        ahead.delete(r.runId);
      }
      if (r.outcome === "resumed") dispatchResumed(r.runId);
      else if (current) endWait(r.runId); // changed since it was read (or the thread's statement failed): read afresh
    }
  };
  const onWakerLost = (runIds: readonly string[]): void => {
    for (const runId of runIds) {
      const arming = armings.get(runId);
      if (!arming?.handedOver) continue;
      arming.handedOver = false;
      clearTimeout(arming.timer);
      fireAt(runId, arming);
    }
  };
  const connection = connectionSettings(base.pool);
  const waker = connection ? new Waker(connection, onWoken, onWakerLost, base.log) : undefined;
  /** A run's state is known (read ahead, or as just committed): its wait goes to the wake-up thread, else stays here. */
  const settle = (id: string, arming: Arming, state: SuspendedRun | null): void => {
    arming.reading = false;
    const statement = state && waker?.available ? resumeStatement(ctx, state, arming.at) : undefined;
    if (waker && statement && (waker.ready || !arming.dueWhileReading)) {
      // due or not yet: the thread commits it at its time (at once when that has passed); while the thread is still
      // starting, this process's timer stays armed and ends the wait too if the thread is not up by then
      arming.handedOver = true;
      waker.arm(id, arming.token, arming.at, statement);
      if (waker.ready) {
        clearTimeout(arming.timer);
        return;
      }
    }
    ahead.set(id, state);
    if (arming.dueWhileReading) {
      armings.delete(id);
      endWait(id);
    }
  };
  const toRead = new Set<string>();
  let readScheduled = false;
  const readDue = (): void => {
    readScheduled = false;
    const ids = [...toRead];
    toRead.clear();
    // the arming each read belongs to: a run armed again meanwhile is read again
    const armed = new Map(ids.map((id) => [id, armings.get(id)]));
    const current = (id: string): Arming | undefined => {
      const arming = armed.get(id);
      return !stopped && arming && armings.get(id) === arming ? arming : undefined;
    };
    loadSuspendedRuns(ctx.pool, ids).then(
      (found) => {
        for (const id of ids) {
          const arming = current(id);
          if (arming) settle(id, arming, found.get(id) ?? null);
        }
      },
      (error: unknown) => {
        ctx.log.warn({ err: error }, "reading runs ahead of their wake-up failed; they are read when due");
        for (const id of ids) {
          const arming = current(id);
          if (!arming) continue;
          arming.reading = false;
          if (arming.dueWhileReading) {
            armings.delete(id);
            endWait(id);
          }
        }
      },
    );
  };
  const readAhead = (runId: string, arming: Arming): void => {
    arming.reading = true;
    toRead.add(runId);
    if (readScheduled) return;
    readScheduled = true;
    setImmediate(readDue);
  };
  const dispatchAt = (runId: string, at: Date, suspended?: SuspendedRun): void => {
    const delay = at.getTime() - Date.now();
    if (stopped || delay > TIMER_HORIZON_MS) return;
    const previous = armings.get(runId);
    if (previous) {
      clearTimeout(previous.timer);
      if (previous.handedOver) waker?.disarm(runId);
    }
    ahead.delete(runId);
    const arming: Arming = { token: ++tokens, at };
    armings.set(runId, arming);
    waker?.warm();
    if (delay <= PREFETCH_LEAD_MS) {
      fireAt(runId, arming);
      // known as just committed: no read (under load, the read's answer waits behind everything else on this thread).
      // Already due: ended when its timer fires, at once, from the known state or a read.
      if (suspended && delay > 0) settle(runId, arming, suspended);
      else if (suspended) ahead.set(runId, suspended);
      else if (delay > 0) readAhead(runId, arming);
      return;
    }
    const timer = setTimeout(() => {
      if (armings.get(runId) !== arming) return;
      fireAt(runId, arming);
      readAhead(runId, arming);
    }, delay - PREFETCH_LEAD_MS);
    timer.unref();
    arming.timer = timer;
  };
  const timers = new Set<NodeJS.Timeout>();
  const wake = (): void => {
    if (stopped) return;
    // the same notification graphile's add_job sends: every worker listening fetches due jobs now
    base.pool.query(`select pg_notify('jobs:insert', '{"r":0,"count":1}')`).catch((error: unknown) => base.log.warn({ err: error }, "wake-up notify failed"));
  };
  const wakeAt = (at: Date): void => {
    const delay = at.getTime() - Date.now();
    if (stopped || delay > 2_147_000_000) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      wake();
    }, Math.max(0, delay + 2));
    timer.unref();
    timers.add(timer);
  };
  // every command this process runs from now on dispatches in-process and arms local timers
  const ctx: CommandContext = { ...base, dispatchNow, dispatchAt, reserveDispatch, reserveLocalQueue, onJobScheduled: wakeAt };

  const taskList: TaskList = {
    [TASKS.executeRun]: async (payload) => {
      const { runId } = payload as { runId: string };
      try {
        await executeRun(ctx, runId);
        failures.delete(runId);
      } catch (error) {
        // graphile's own retry would be lost when the claim already removed this job: the local path serves the run
        executionFailed(runId, error);
      }
    },
    [TASKS.deliverEvent]: async (payload) => {
      await deliverScheduledEvent(ctx, (payload as { eventRecordId: string }).eventRecordId);
    },
    [TASKS.schedule]: async (payload) => {
      await fireScheduleSlot(ctx, payload as { environmentId: string; jobSlug: string; scheduleHash: string; slot: string });
    },
  };
  const graphileLog = ctx.log.child({ component: "graphile-worker" });
  const startRunner = async (): Promise<Runner> =>
    await run({
      pgPool: ctx.pool,
      concurrency: ctx.config.workerConcurrency,
      noHandleSignals: true,
      pollInterval: POLL_INTERVAL_MS,
      preset: {
        worker: {
          // One poll per interval for the whole process (the pool fetches jobs in batches), not one per worker loop:
          // idle, 32 loops would cost 32 read transactions a second.
          localQueue: { size: ctx.config.workerConcurrency + 1 },
          // Completions are not batched (completeJobBatchDelay): a batch deletes several locked jobs in one statement,
          // while a commit of ours removes the job keys of the runs it ends (remove_job), so the two can lock the same
          // rows in opposite orders. Tried with a burst of runs beyond the in-process queue: Postgres CPU per run fell
          // by a third, but a deadlock (40P01) came within a minute, and graphile-worker shut its pool down on it.
        },
      },
      taskList,
      logger: new GraphileLogger(() => (level, message, meta) => {
        if (level === "error") graphileLog.error(meta ?? {}, message);
        else if (level === "warning") graphileLog.warn(meta ?? {}, message);
        else graphileLog.debug(meta ?? {}, message);
      }),
    });
  let runner: Runner = await startRunner();
  /** Runners whose pool has ended (stopping one again would only fail). */
  const ended = new WeakSet<Runner>();
  /** The stop in progress or done (stop is idempotent). */
  let stopping: Promise<void> | undefined;
  let runnerRestarts = 0;
  /** A restart in progress (awaited by stop, so no runner is left running after it). */
  let restarting: Promise<void> | undefined;
  /** Ends the pause before the next restart attempt at once. */
  let cutRestartPause: (() => void) | undefined;
  /**
   * Starts graphile-worker again when `current` ends while this dispatcher is not stopping (its pool shuts itself down
   * on a fatal error, e.g. completions it could not record): without it, no outbox job (retries, resumptions, delayed
   * events, schedules, runs beyond the in-process queue) would run in this process until it restarts. Attempts back
   * off from 0.5 s to 30 s while Postgres is unreachable.
   */
  const superviseRunner = (current: Runner): void => {
    // settles with the error that ended it, if any
    void current.promise
      .catch((error: unknown) => error)
      .then((error) => {
        ended.add(current);
        if (stopped || runner !== current) return;
        graphileLog.error({ err: error }, "graphile-worker stopped by itself; starting it again");
        restarting = (async () => {
          for (let attempt = 0; !stopped; attempt++) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Math.min(RUNNER_RESTART_MAX_MS, RUNNER_RESTART_MIN_MS * 2 ** attempt));
              // a stop does not wait out the pause
              cutRestartPause = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            cutRestartPause = undefined;
            if (stopped) return;
            try {
              const next = await startRunner();
              if (stopped) return await next.stop();
              runner = next;
              runnerRestarts++;
              superviseRunner(next);
              graphileLog.warn({ restarts: runnerRestarts }, "graphile-worker started again");
              return;
            } catch (startError) {
              graphileLog.warn({ err: startError, attempt }, "graphile-worker could not start again; retrying");
            }
          }
        })();
      });
  };
  superviseRunner(runner);

  const armUpcoming = async (): Promise<void> => {
    const { rows } = await ctx.pool.query<{ key: string; run_at: Date }>(
      `select key, run_at from graphile_worker.jobs
       where task_identifier = $1 and key like 'run:%' and locked_at is null
         and run_at > now() and run_at <= now() + make_interval(secs => $2::double precision / 1000)`,
      [TASKS.executeRun, TIMER_HORIZON_MS],
    );
    for (const r of rows) if (!armings.has(r.key.slice(4))) dispatchAt(r.key.slice(4), r.run_at);
  };
  const scan = setInterval(() => {
    armUpcoming().catch((error: unknown) => {
      if (!stopped) ctx.log.warn({ err: error }, "timer scan failed");
    });
  }, TIMER_SCAN_MS);
  scan.unref();
  await armUpcoming();

  let sweeping: Promise<void> = Promise.resolve();
  const heartbeat = setInterval(() => {
    sweeping = (async () => {
      try {
        await ctx.pool.query("update baton.workers set heartbeat_at = now() where id = $1", [ctx.workerId]);
        const recovered = await recoverLostRuns(ctx);
        if (recovered.length) ctx.log.warn({ runs: recovered }, "recovered runs of a lost worker");
      } catch (error) {
        if (!stopped) ctx.log.warn({ err: error }, "heartbeat/recovery failed");
      }
    })();
  }, HEARTBEAT_MS);
  heartbeat.unref();
  // a restarted process recovers its dead predecessor's runs at once (same host, dead pid)
  sweeping = recoverLostRuns(ctx).then(
    (r) => void (r.length && ctx.log.warn({ runs: r }, "recovered runs of a lost worker")),
    (error: unknown) => ctx.log.warn({ err: error }, "recovery failed"),
  );

  return {
    ctx,
    wakeAt,
    dispatchNow,
    dispatchAt,
    graphile: {
      get runner() {
        return runner;
      },
      get restarts() {
        return runnerRestarts;
      },
    },
    stop() {
      stopping ??= stopDispatcher();
      return stopping;
    },
  };

  async function stopDispatcher(): Promise<void> {
    stopped = true;
    cutRestartPause?.();
    clearInterval(heartbeat);
    clearInterval(scan);
    for (const t of timers) clearTimeout(t);
    for (const t of retryTimers) clearTimeout(t);
    for (const a of armings.values()) clearTimeout(a.timer);
    armings.clear();
    ahead.clear();
    backlog.length = 0;
    resumedBacklog.length = 0;
    // graphile-worker takes no more jobs from here on (its jobs in flight finish before runnerStopped resolves),
    // so the runs handed back below go to the other processes
    const runnerStopped = ended.has(runner)
      ? Promise.resolve()
      : runner.stop().catch((error: unknown) => ctx.log.warn({ err: error }, "stopping graphile-worker failed"));
    // the runs only this process's memory held go back to the outbox, for the other processes (or the next start)
    const handOver = [...held];
    held.clear();
    // (with the base context: the jobs are due now, not as the fallback of an in-process dispatch)
    await requeueRuns(base, handOver, "worker_stopped").catch((error: unknown) =>
      ctx.log.warn({ err: error, runs: handOver.length }, "handing queued runs back to the outbox failed; recovery will"),
    );
    await waker?.stop();
    while (running > 0) await new Promise((r) => setTimeout(r, 20));
    await sweeping;
    await runnerStopped;
    await restarting;
    await ctx.pool.query("delete from baton.workers where id = $1", [ctx.workerId]).catch(() => undefined);
  }
}
