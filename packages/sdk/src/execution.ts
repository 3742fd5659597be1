/**
 * The state of one EXECUTE_JOB request: the task cache, the exact noop set, the keys used so far, the time
 * budget, and (Baton protocol) the task completions not yet sent to the server.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ApiClient } from "./api-client";
import { AutoYieldExecutionError, type AutoYieldLocation } from "./errors";
import type { CachedTask, BatonCompletedTask, RunJobBody } from "@baton/core";

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

/** How long a Baton-mode completion may wait for a request to ride on before it is sent alone (ms). */
export const COMPLETION_FLUSH_DELAY_MS = 200;

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
}

/** Mutable state of one execution of a run. */
export class Execution {
  readonly runId: string;
  readonly api: ApiClient;
  /** True when the server sent `batonProtocol: 1`: deferred completion and `outputMeta`. */
  readonly baton: boolean;
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
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: ExecutionOptions) {
    const { body } = options;
    this.runId = body.run.id;
    this.api = options.api;
    this.baton = body.batonProtocol === 1;
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
   * Baton mode: keep a completion to send with the next request; flushed alone with `/complete` after
   * {@link COMPLETION_FLUSH_DELAY_MS}, or at once when the execution has already answered.
   */
  deferCompletion(completion: BatonCompletedTask): void {
    this.#pending.push(completion);
    if (this.#closed) {
      this.#startFlush();
      return;
    }
    if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#startFlush();
      }, COMPLETION_FLUSH_DELAY_MS);
    }
  }

  /** Takes every pending completion (to piggyback on a request); the caller must {@link restoreCompletions} on failure. */
  takeCompletions(): BatonCompletedTask[] {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const taken = this.#pending;
    this.#pending = [];
    return taken;
  }

  /** Puts back completions whose carrying request failed. */
  restoreCompletions(completions: readonly BatonCompletedTask[]): void {
    if (completions.length === 0) return;
    this.#pending.unshift(...completions);
    if (this.#closed) this.#startFlush();
    else if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#startFlush();
      }, COMPLETION_FLUSH_DELAY_MS);
    }
  }

  /**
   * The execution is answering: returns the completions to put in the `RunJobResponse`. Completions of task
   * bodies still running (e.g. beside a task that suspended the run) are sent with `/complete` when they finish.
   */
  close(): BatonCompletedTask[] {
    this.#closed = true;
    return this.takeCompletions();
  }

  /** Resolves when background `/complete` calls started so far have settled (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #startFlush(): void {
    const completions = this.takeCompletions();
    if (completions.length === 0) return;
    const promise = Promise.all(
      completions.map(async (completion) => {
        try {
          await this.api.completeTask(this.runId, completion);
        } catch (error) {
          // At-least-once: the task runs again on the next replay.
          this.#log?.("Deferred task completion failed", { taskId: completion.id, error: String(error) });
        }
      }),
    ).then(() => undefined);
    this.#inFlight.add(promise);
    void promise.finally(() => this.#inFlight.delete(promise));
  }
}
