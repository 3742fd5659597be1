/**
 * The state of one EXECUTE_JOB request: the task cache, the exact noop set, the keys used so far, the time
 * budget, and (Baton protocol) the task completions not yet sent to the server.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ApiClient } from "./api-client";
import { ApiError, AutoYieldExecutionError, type AutoYieldLocation } from "./errors";
import type { BatonCompletedTask, BatonStartedTask, CachedTask, RunJobBody, TaskReportBody } from "@baton/core";
import type { AbortSignalLike } from "./client";

/** Log levels in v2's order: a message is recorded when its level's index is <= the job level's index. */
export const LOG_LEVELS = ["log", "error", "warn", "info", "debug"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Auto-yield thresholds in ms (v2 defaults 500/1500/500/500, overridden by the body's `autoYieldConfig`). */
export interface AutoYieldThresholds {
  readonly startTaskThreshold: number;
  readonly beforeExecuteTaskThreshold: number;
  readonly beforeCompleteTaskThreshold: number;
  readonly afterCompleteTaskThreshold: number;
}

export const DEFAULT_AUTO_YIELD_THRESHOLDS: AutoYieldThresholds = {
  startTaskThreshold: 500,
  beforeExecuteTaskThreshold: 1500,
  beforeCompleteTaskThreshold: 500,
  afterCompleteTaskThreshold: 500,
};

/**
 * How long a Baton-mode report (a task start or completion) may wait for a request to ride on before it is flushed
 * alone with `POST /api/v1/runs/:runId/tasks/report` (ms). It bounds how late the dashboard shows a task, and how long
 * an execution may run on after its run was canceled in another server process.
 */
export const COMPLETION_FLUSH_DELAY_MS = 100;

/** What {@link Execution.settled} answers when no flush is in flight. */
const SETTLED: Promise<void> = Promise.resolve();

/** Subtasks may nest this deep (a top-level task is level 1). */
export const MAX_TASK_DEPTH = 5;

/** A task whose body is running: the parent of the tasks it creates. */
export interface TaskFrame {
  readonly id: string;
  readonly idempotencyKey: string;
  /** 1 for a top-level task. */
  readonly depth: number;
  /** Display keys from the top-level task down to this one. */
  readonly keyPath: readonly string[];
}

/** What AsyncLocalStorage carries while a run executes. */
export interface RunScope {
  readonly execution: Execution;
  readonly frame: TaskFrame | undefined;
}

/** The current run scope, if code runs inside `run()` (used by `job.invoke` and the top-level `io`). */
export const runScope = new AsyncLocalStorage<RunScope>();

/** Options of {@link Execution}. */
export interface ExecutionOptions {
  readonly body: RunJobBody;
  readonly api: ApiClient;
  readonly logLevel: LogLevel;
  readonly outputLimitBytes: number;
  readonly log?: (message: string, data?: unknown) => void;
  /**
   * The request's signal: once it is aborted (the server hung up), {@link Execution.stopReason} says so and the
   * execution stops at its next task.
   */
  readonly signal?: AbortSignalLike | undefined;
}

/** {@link Execution.stopReason} once the server hung up on the execution's request. */
export const HUNG_UP_STOP_REASON = "the server stopped waiting for this execution";

/** Mutable state of one execution of a run. */
export class Execution {
  readonly runId: string;
  readonly api: ApiClient;
  /** True when the server sent `batonProtocol` ≥ 1: deferred completion and `outputMeta`. */
  readonly baton: boolean;
  /**
   * True when the server sent `batonProtocol` ≥ 2 with `uncachedTaskKeys`: this execution knows every task key the
   * server has, so a task with another key is new and may start without asking the server (see {@link startLocally}).
   */
  readonly localStart: boolean;
  /** Keys of the run's tasks that are neither cached nor completed noops (protocol 2). */
  readonly uncachedKeys: ReadonlySet<string>;
  /** Set by the {@link stopReason} setter (a hung-up request is read from {@link #signal} when asked). */
  #stopReason: string | undefined;
  readonly #signal: AbortSignalLike | undefined;
  readonly logLevel: LogLevel;
  readonly outputLimitBytes: number;
  /** COMPLETED tasks by idempotency key. Only COMPLETED outputs are ever used as cache. */
  readonly cache = new Map<string, CachedTask>();
  /** Exact set of completed noop keys, or undefined when the server sent none (then the server is asked). */
  readonly noopKeys: Set<string> | undefined;
  readonly yieldedExecutions: ReadonlySet<string>;
  /** Idempotency keys used in this execution: a second use is a duplicate key. */
  readonly usedKeys = new Set<string>();
  /** Per parent scope (parent idempotency key, "" at top level): number of io.logger records so far. */
  readonly logCounters = new Map<string, number>();
  readonly thresholds: AutoYieldThresholds;
  readonly limitMs: number | undefined;
  readonly #startedAt = performance.now();
  readonly #log: ((message: string, data?: unknown) => void) | undefined;
  #pending: BatonCompletedTask[] = [];
  #started: BatonStartedTask[] = [];
  /** Idempotency key of each task id this execution reported or will report (for {@link adopt}). */
  readonly #keyById = new Map<string, string>();
  /** The completion of each task this execution (or one it adopted) completed, by idempotency key. */
  readonly #completedByKey = new Map<string, BatonCompletedTask>();
  /** When this execution's pending reports are flushed alone (`performance.now()` ms); undefined when none wait. */
  #flushDue: number | undefined;

  // The flushes of every execution share one timer: they all wait COMPLETION_FLUSH_DELAY_MS, so they come due in the
  // order they were armed (a queue). Most executions answer before theirs is due (the answer carries the reports),
  // and a timer made and cleared per execution costs more than the rest of its bookkeeping.
  /** Executions in the order their flush was armed, with the due time of each entry (an entry is stale once the
   * execution's {@link #flushDue} differs: it flushed, or was disarmed and maybe armed again). */
  static readonly #queue: (Execution | undefined)[] = [];
  static readonly #queueDue: number[] = [];
  static #queueHead = 0;
  /** Live entries: while there are some the timer keeps the process alive, as a timer per execution would. */
  static #armedCount = 0;
  static #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();
  /** The last flush started (flushes go one after another); undefined before the first. */
  #chain: Promise<void> | undefined;

  constructor(options: ExecutionOptions) {
    const { body } = options;
    this.runId = body.run.id;
    this.api = options.api;
    this.baton = (body.batonProtocol ?? 0) >= 1;
    this.localStart = (body.batonProtocol ?? 0) >= 2 && body.uncachedTaskKeys !== undefined && body.noopTaskKeys !== undefined;
    this.uncachedKeys = new Set(body.uncachedTaskKeys ?? []);
    this.#stopReason = undefined;
    this.#signal = options.signal;
    this.logLevel = options.logLevel;
    this.outputLimitBytes = options.outputLimitBytes;
    this.#log = options.log;
    for (const task of body.tasks ?? []) {
      if (task.status === "COMPLETED") this.cache.set(task.idempotencyKey, task);
    }
    // A v2 bloom filter (`noopTasksSet`) alone is ignored: it can give false positives (v2 quirk §8).
    this.noopKeys = body.noopTaskKeys ? new Set(body.noopTaskKeys) : undefined;
    this.yieldedExecutions = new Set(body.yieldedExecutions ?? []);
    this.limitMs = body.runChunkExecutionLimit;
    this.thresholds = body.autoYieldConfig ?? DEFAULT_AUTO_YIELD_THRESHOLDS;
  }

  /**
   * Why this execution must stop at its next task, once the server canceled the run (a report's answer) or stopped
   * waiting for this execution (its request was aborted: {@link HUNG_UP_STOP_REASON}); undefined while it may go on.
   * The first reason stays (set it with `??=`).
   */
  get stopReason(): string | undefined {
    if (this.#stopReason === undefined && this.#signal?.aborted === true) this.#stopReason = HUNG_UP_STOP_REASON;
    return this.#stopReason;
  }

  set stopReason(reason: string | undefined) {
    this.#stopReason = reason;
  }

  /** ms since this execution started. */
  elapsedMs(): number {
    return performance.now() - this.#startedAt;
  }

  /**
   * Throws an {@link AutoYieldExecutionError} when less than `thresholdMs` of the `runChunkExecutionLimit`
   * budget is left. No budget sent = never yields.
   */
  checkAutoYield(location: AutoYieldLocation, thresholdMs: number): void {
    const limit = this.limitMs;
    if (limit === undefined) return;
    const remaining = this.remainingMs();
    if (remaining !== undefined && remaining < thresholdMs) {
      throw new AutoYieldExecutionError(location, Math.round(remaining), Math.round(this.elapsedMs()), limit);
    }
  }

  /** ms left in the budget, or undefined without one. */
  remainingMs(): number | undefined {
    return this.limitMs === undefined ? undefined : this.limitMs - this.elapsedMs();
  }

  /**
   * Protocol 2: true when a task with `idempotencyKey` may start here without a server call: the server has no task
   * with that key (not cached, not a completed noop, not among the uncached keys), this execution has not answered
   * yet, and the task needs nothing the server does (no `delayUntil`, callback, background operation or connection).
   */
  canStartLocally(idempotencyKey: string, options: { delayUntil?: unknown; callback?: unknown; operation?: unknown; connectionKey?: unknown }): boolean {
    return (
      this.localStart &&
      !this.#closed &&
      options.delayUntil === undefined &&
      options.callback === undefined &&
      options.operation === undefined &&
      options.connectionKey === undefined &&
      !this.cache.has(idempotencyKey) &&
      !this.uncachedKeys.has(idempotencyKey) &&
      !(this.noopKeys?.has(idempotencyKey) ?? false)
    );
  }

  /**
   * Protocol 2: records a task started here (reported with the next request, a flush after
   * {@link COMPLETION_FLUSH_DELAY_MS}, or the execution's answer). A noop counts as a completed noop from now on.
   */
  startLocally(task: BatonStartedTask): void {
    this.#started.push(task);
    this.#keyById.set(task.id, task.idempotencyKey);
    if (task.noop) this.noopKeys?.add(task.idempotencyKey);
    this.#armFlush();
  }

  /**
   * Baton mode: keep a completion to send with the next request; flushed alone after
   * {@link COMPLETION_FLUSH_DELAY_MS}, or at once when the execution has already answered.
   */
  deferCompletion(completion: BatonCompletedTask, idempotencyKey: string): void {
    this.#pending.push(completion);
    this.#keyById.set(completion.id, idempotencyKey);
    this.#completedByKey.set(idempotencyKey, completion);
    this.#armFlush();
  }

  /**
   * Takes over the reports an earlier execution of the same run in this process could not deliver (its server died
   * or hung up before they landed): its completed tasks become cached here, so they do not run again, and its reports
   * go out with this execution's. Call before the run's code starts; wait for `earlier.settled()` first.
   */
  adopt(earlier: Execution): void {
    if (earlier.runId !== this.runId) return;
    const reports = earlier.takeReports();
    for (const s of reports.startedTasks ?? []) if (s.noop) this.noopKeys?.add(s.idempotencyKey);
    // every task the earlier execution completed, delivered or not: one delivered after the server built this
    // execution's body is missing from its cache too
    for (const [key, c] of earlier.#completedByKey) {
      if (this.cache.has(key)) continue;
      this.#completedByKey.set(key, c);
      this.cache.set(key, {
        id: key,
        idempotencyKey: key,
        status: "COMPLETED",
        noop: false,
        output: c.output === undefined ? undefined : (JSON.parse(c.output) as CachedTask["output"]),
        ...(c.outputMeta !== undefined ? { outputMeta: c.outputMeta } : {}),
      });
    }
    for (const [id, key] of earlier.#keyById) this.#keyById.set(id, key);
    this.#started.push(...(reports.startedTasks ?? []));
    this.#pending.push(...(reports.completedTasks ?? []));
    if (this.hasReports) this.#armFlush();
  }

  /** True when task starts or completions wait to be sent. */
  get hasReports(): boolean {
    return this.#started.length > 0 || this.#pending.length > 0;
  }

  /** Takes every pending report (to piggyback on a request); the caller must {@link restoreReports} on failure. */
  takeReports(): TaskReportBody {
    this.#disarmFlush();
    const reports: TaskReportBody = {};
    if (this.#started.length > 0) reports.startedTasks = this.#started;
    if (this.#pending.length > 0) reports.completedTasks = this.#pending;
    this.#started = [];
    this.#pending = [];
    return reports;
  }

  /** Puts back reports whose carrying request failed (ahead of newer ones: starts must stay in order). */
  restoreReports(reports: TaskReportBody): void {
    this.#started.unshift(...(reports.startedTasks ?? []));
    this.#pending.unshift(...(reports.completedTasks ?? []));
    // once answered, they wait for the run's next execution in this process to adopt them (see adopt)
    if (this.hasReports && !this.#closed) this.#armFlush();
  }

  /**
   * The execution is answering: returns the reports to put in the `RunJobResponse`. Completions of task bodies still
   * running (e.g. beside a task that suspended the run) are flushed on their own when they finish.
   */
  close(): TaskReportBody {
    this.#closed = true;
    return this.takeReports();
  }

  /** True once {@link close} ran: new tasks must ask the server (which refuses them once the run moved on). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends every pending report now and waits for the answer (before a call that needs the server to know them). */
  async flush(): Promise<void> {
    this.#startFlush();
    await this.settled();
  }

  /** Resolves when background flushes started so far have settled (for tests and shutdown). */
  settled(): Promise<void> {
    return this.#inFlight.size === 0 ? SETTLED : this.#settle();
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #armFlush(): void {
    if (this.#closed) {
      this.#startFlush();
      return;
    }
    if (this.#flushDue !== undefined) return;
    const due = performance.now() + COMPLETION_FLUSH_DELAY_MS;
    this.#flushDue = due;
    Execution.#queue.push(this);
    Execution.#queueDue.push(due);
    if (Execution.#armedCount++ === 0) Execution.#timer?.ref();
    if (Execution.#timer === undefined) Execution.#startTimer(COMPLETION_FLUSH_DELAY_MS);
  }

  #disarmFlush(): void {
    if (this.#flushDue === undefined) return;
    this.#flushDue = undefined;
    // (its queue entry goes stale); with no live entry left the timer no longer keeps the process alive
    if (--Execution.#armedCount === 0) Execution.#timer?.unref();
  }

  static #startTimer(delayMs: number): void {
    // outside any run's AsyncLocalStorage scope: the timer serves every execution
    const timer = runScope.exit(() => setTimeout(Execution.#onTimer, delayMs));
    if (Execution.#armedCount === 0) timer.unref();
    Execution.#timer = timer;
  }

  /** Flushes every execution whose flush is due, then waits for the next live entry. */
  static readonly #onTimer = (): void => {
    Execution.#timer = undefined;
    const queue = Execution.#queue;
    const dues = Execution.#queueDue;
    const now = performance.now();
    let head = Execution.#queueHead;
    while (head < queue.length) {
      const execution = queue[head]!;
      const due = dues[head]!;
      if (execution.#flushDue === due) {
        if (due > now) break;
        execution.#disarmFlush();
        execution.#startFlush();
      }
      queue[head] = undefined;
      head++;
    }
    if (head === queue.length) {
      queue.length = 0;
      dues.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      dues.splice(0, head);
      head = 0;
    }
    Execution.#queueHead = head;
    if (head < queue.length) Execution.#startTimer(Math.max(1, Math.ceil(dues[head]! - now)));
  };

  #startFlush(): void {
    if (!this.hasReports) return;
    const reports = this.takeReports();
    const send = async (): Promise<void> => {
      try {
        if (this.localStart) {
          const result = await this.api.reportTasks(this.runId, reports);
          if (result.runStatus === "CANCELED") this.stopReason ??= `run ${this.runId} was canceled`;
          return;
        }
        // protocol 1 servers take completions one by one
        await Promise.all((reports.completedTasks ?? []).map((completion) => this.api.completeTask(this.runId, completion)));
      } catch (error) {
        // The server refused them (4xx): dropped, and at-least-once makes those tasks run again on the next replay.
        // Else (network, 5xx after the client's retries) they go again with the next request or flush, still in
        // order; once this execution has answered, the run's next execution in this process adopts them.
        const refused = error instanceof ApiError && error.status >= 400 && error.status < 500;
        if (!refused) this.restoreReports(reports);
        else this.#log?.("Task report refused", { runId: this.runId, error: String(error) });
      }
    };
    // flushes go one after another, so starts reach the server in order
    const promise = (this.#chain ?? SETTLED).then(send);
    this.#chain = promise;
    this.#inFlight.add(promise);
    void promise.finally(() => this.#inFlight.delete(promise));
  }
}
