/**
 * `io`: every call is a memoized task (v2 reference §2.4–§2.5).
 *
 * A run is replayed from the top on every execution. A task whose idempotency key is in the cache returns its
 * stored output (no HTTP call); a new task is created on the server, its body runs, and its output is
 * completed (v2: `/complete` right away; Baton protocol: piggybacked on the next request).
 */
import type { CreateTaskBody, ServerTaskWithMeta } from "./api-client";
import {
  BatonError,
  CanceledWithTaskError,
  ErrorWithTask,
  ResumeWithParallelTaskError,
  ResumeWithTaskError,
  RetryWithTaskError,
  AutoYieldExecutionError,
  AutoYieldWithCompletedTaskExecutionError,
  YieldExecutionError,
  isTriggerError,
  toErrorBody,
  type ControlFlowSentinel,
} from "./errors";
import { runScope, LOG_LEVELS, MAX_TASK_DEPTH, type Execution, type LogLevel, type TaskFrame } from "./execution";
import { calculateRetryAt, newPrefixedId, type ApiEventLog, type RetryOptions, type RawEvent, type SendEventOptions, type TaskReportBody } from "@baton/core";
import { deserializeOutput, serializeOutput } from "./serialization";
import { displayKey, formatKeyPath, taskIdempotencyKey, type TaskKey } from "./task-key";

export type { TaskKey } from "./task-key";

/** Longest `io.wait`: one year, in seconds. */
export const MAX_WAIT_SECONDS = 31_536_000;

/** A dashboard property of a task (v2 `DisplayProperty`). */
export interface DisplayProperty {
  readonly label: string;
  readonly text: string;
  readonly url?: string;
  readonly imageUrl?: readonly string[];
}

/** Options of {@link IO.runTask} (v2 `RunTaskOptions` plus `parseOutput`). */
export interface RunTaskOptions<T = unknown> {
  /** Dashboard name (server default "Task"). */
  readonly name?: string;
  /** Company name or Tabler icon name. */
  readonly icon?: string;
  /** Shown instead of the key; defaults to the key. */
  readonly displayKey?: string;
  readonly description?: string;
  readonly properties?: readonly DisplayProperty[];
  /** Shown as the task's input. */
  readonly params?: unknown;
  readonly style?: { readonly style: "normal" | "minimal"; readonly variant?: string };
  /** Retry on failure, v2 semantics (`limit` counts all attempts). Without it the task is tried once. */
  readonly retry?: RetryOptions;
  /** The task starts WAITING until this time; the run suspends (RESUME_WITH_TASK). */
  readonly delayUntil?: Date;
  /** Dot paths of the output hidden in dashboards. */
  readonly redact?: { readonly paths: readonly string[] };
  /** Applied to the output on first execution and on replay (e.g. a zod `parse`). */
  readonly parseOutput?: (output: unknown) => T;
  /** A task with no user work (waits, logs): recorded as COMPLETED by the server, tracked in the noop set. */
  readonly noop?: boolean;
  /** Links an integration connection (v2). */
  readonly connectionKey?: string;
  /** Children run in parallel (`io.parallel`). */
  readonly parallel?: boolean;
}

/** What `onError` may return: retry at a time, replace the error, skip retrying, or nothing. */
export type RunTaskErrorResult =
  | { readonly retryAt?: Date; readonly error?: Error; readonly jitter?: number; readonly skipRetrying?: boolean }
  | Error
  | undefined
  | void;

/** `onError(error, task, io)` of {@link IO.runTask}. */
export type RunTaskErrorCallback = (error: unknown, task: ServerTaskWithMeta, io: IO) => RunTaskErrorResult | Promise<RunTaskErrorResult>;

/** The task given to a task body: the server's task (`id`, `idempotencyKey`, `attempts`, ...). */
export type IOTask = ServerTaskWithMeta;

/** `io.logger`: records are noop tasks keyed by position, filtered by the job's `logLevel`. */
export interface IOLogger {
  log(message: string, data?: Record<string, unknown>): Promise<void>;
  error(message: string, data?: Record<string, unknown>): Promise<void>;
  warn(message: string, data?: Record<string, unknown>): Promise<void>;
  info(message: string, data?: Record<string, unknown>): Promise<void>;
  debug(message: string, data?: Record<string, unknown>): Promise<void>;
}

/** Where a failure first happened; the run's error message names this path. */
export const failedTaskInfo = new WeakMap<object, { readonly keyPath: readonly string[]; readonly task: ServerTaskWithMeta | undefined }>();

/**
 * The `io` given to `run(payload, io, ctx)` and to every task body. A task body's `io` creates subtasks of that
 * task; the top-level `io` follows AsyncLocalStorage, so calling it inside a body also nests (as v2).
 */
export class IO {
  readonly #execution: Execution;
  readonly #parent: TaskFrame | undefined;
  readonly #followScope: boolean;
  readonly #integrations: Readonly<Record<string, IntegrationBinder>>;
  #logger: IOLogger | undefined;

  /** @internal Built by the client for each execution and for each task body. */
  constructor(
    execution: Execution,
    parent: TaskFrame | "scope",
    integrations: Readonly<Record<string, IntegrationBinder>> = {},
  ) {
    this.#execution = execution;
    this.#followScope = parent === "scope";
    this.#parent = parent === "scope" ? undefined : parent;
    this.#integrations = integrations;
    for (const name in integrations) {
      if (!Object.prototype.hasOwnProperty.call(integrations, name)) continue;
      Object.defineProperty(this, name, { value: integrations[name]!(this), enumerable: true });
    }
  }

  /** Job logger; see {@link IOLogger}. (Made on first use: most task bodies never log.) */
  get logger(): IOLogger {
    if (this.#logger === undefined) {
      const log = (level: LogLevel) => (message: string, data?: Record<string, unknown>) => this.#writeLog(level, message, data);
      this.#logger = { log: log("log"), error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug") };
    }
    return this.#logger;
  }

  /** The run id. */
  get runId(): string {
    return this.#execution.runId;
  }

  #currentParent(): TaskFrame | undefined {
    if (!this.#followScope) return this.#parent;
    const scope = runScope.getStore();
    return scope?.execution === this.#execution ? scope.frame : undefined;
  }

  /**
   * Runs `cb` as a memoized task.
   *
   * @param key unique within its parent task (string, or array of parts)
   * @param cb the body, given the server task and an `io` whose tasks are subtasks of this one
   * @param options see {@link RunTaskOptions}
   * @param onError may return `{retryAt, error, skipRetrying}`, an Error to throw instead, or nothing
   * @returns the body's output, deserialized from what was stored (so first execution and replay agree)
   * @throws BatonError `TASK_KEY_DUPLICATE` when the key was already used under this parent in this run;
   *   `TASK_NESTING_TOO_DEEP` when this would be a 6th level; `TASK_OUTPUT_*` when the output cannot be stored;
   *   {@link ErrorWithTask} when the server reports the task ERRORED; the body's error after retries
   */
  async runTask<T>(
    key: TaskKey,
    cb: (task: IOTask, io: IO) => Promise<T> | T,
    options: RunTaskOptions<T> = {},
    onError?: RunTaskErrorCallback,
  ): Promise<T> {
    const execution = this.#execution;
    const parent = this.#currentParent();
    const shownKey = displayKey(key);
    const keyPath = [...(parent?.keyPath ?? []), shownKey];
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > MAX_TASK_DEPTH) {
      throw new BatonError(
        "TASK_NESTING_TOO_DEEP",
        `Task ${formatKeyPath(keyPath)} would be nested ${depth} levels deep; subtasks may nest at most ${MAX_TASK_DEPTH} levels`,
        { retryable: false },
      );
    }
    const idempotencyKey = taskIdempotencyKey(execution.runId, parent?.id, key);
    if (execution.usedKeys.has(idempotencyKey)) {
      throw new BatonError(
        "TASK_KEY_DUPLICATE",
        `Task with key "${shownKey}"${parent ? ` (under ${formatKeyPath(parent.keyPath)})` : ""} was already used in this run; each task key must be unique within its parent task`,
        { retryable: false },
      );
    }
    execution.usedKeys.add(idempotencyKey);

    const cached = execution.cache.get(idempotencyKey);
    if (cached && cached.status === "COMPLETED") return parsed(options, deserializeOutput(cached.output, cached.outputMeta));
    if (options.noop && execution.noopKeys?.has(idempotencyKey)) return parsed(options, undefined);

    // Logs and other noop subtasks never cause an auto-yield (v2 issue #838).
    if (!(options.noop && parent)) execution.checkAutoYield("start_task", execution.thresholds.startTaskThreshold);

    if (execution.stopReason) throw new CanceledWithTaskError(stoppedTask(idempotencyKey, parent?.id ?? null, options));

    let task: ServerTaskWithMeta;
    if (execution.canStartLocally(idempotencyKey, options)) {
      // Baton protocol 2: the server has no task with this key, so none is asked for; the start is reported later
      const startedAt = new Date();
      const id = newPrefixedId("task");
      const params = options.params !== undefined ? toJsonValue(options.params) : undefined;
      execution.startLocally({
        id,
        idempotencyKey,
        parentId: parent?.id ?? null,
        displayKey: options.displayKey ?? shownKey,
        noop: options.noop ?? false,
        startedAt,
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.icon !== undefined ? { icon: options.icon } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        ...(options.properties !== undefined ? { properties: options.properties.map(({ imageUrl, ...p }) => ({ ...p, ...(imageUrl ? { imageUrl: [...imageUrl] } : {}) })) } : {}),
        ...(params !== undefined ? { params } : {}),
        ...(options.style !== undefined ? { style: { ...options.style } } : {}),
        ...(options.retry !== undefined ? { retry: options.retry } : {}),
        ...(options.redact !== undefined ? { redact: { paths: [...options.redact.paths] } } : {}),
        ...(options.parallel ? { parallel: true } : {}),
      });
      // a noop has no body: it is complete once recorded (what a replay returns for it)
      if (options.noop) return parsed(options, undefined);
      task = {
        id,
        idempotencyKey,
        name: options.name ?? "Task",
        icon: options.icon ?? null,
        noop: false,
        status: "RUNNING",
        attempts: 1,
        parentId: parent?.id ?? null,
        startedAt,
        completedAt: null,
        delayUntil: null,
        description: options.description ?? null,
        params: (params ?? null) as ServerTaskWithMeta["params"],
        output: null,
        error: null,
        style: options.style ? { ...options.style } : { style: "normal" },
        childExecutionMode: options.parallel ? "PARALLEL" : "SEQUENTIAL",
        forceYield: false,
      };
    } else {
      task = await this.#createTaskOnServer(execution, idempotencyKey, shownKey, parent, options);
    }
    return this.#runTaskBody(execution, task, idempotencyKey, shownKey, keyPath, depth, cb, options, onError);
  }

  /** Asks the server for the task (v2's create), with this execution's pending Baton reports piggybacked. */
  async #createTaskOnServer<T>(
    execution: Execution,
    idempotencyKey: string,
    shownKey: string,
    parent: TaskFrame | undefined,
    options: RunTaskOptions<T>,
  ): Promise<ServerTaskWithMeta> {
    const body: CreateTaskBody = {
      idempotencyKey,
      displayKey: options.displayKey ?? shownKey,
      noop: options.noop ?? false,
      ...(parent ? { parentId: parent.id } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.icon !== undefined ? { icon: options.icon } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.properties !== undefined ? { properties: [...options.properties] } : {}),
      ...(options.params !== undefined ? { params: toJsonValue(options.params) } : {}),
      ...(options.style !== undefined ? { style: { ...options.style } } : {}),
      ...(options.retry !== undefined ? { retry: options.retry } : {}),
      ...(options.delayUntil !== undefined ? { delayUntil: options.delayUntil } : {}),
      ...(options.redact !== undefined ? { redact: { paths: [...options.redact.paths] } } : {}),
      ...(options.connectionKey !== undefined ? { connectionKey: options.connectionKey } : {}),
      ...(options.parallel ? { parallel: true } : {}),
    };
    let reports: TaskReportBody = {};
    if (execution.baton) {
      // flushes in flight land first: starts must reach the server in order (a parent before its children)
      await execution.settled();
      reports = execution.takeReports();
      Object.assign(body, reports);
    }
    try {
      return await execution.api.createTask(execution.runId, body);
    } catch (error) {
      execution.restoreReports(reports);
      throw error;
    }
  }

  /** Everything after the task exists: status handling, the body, its completion or failure (v2's runTask). */
  async #runTaskBody<T>(
    execution: Execution,
    task: ServerTaskWithMeta,
    idempotencyKey: string,
    shownKey: string,
    keyPath: readonly string[],
    depth: number,
    cb: (task: IOTask, io: IO) => Promise<T> | T,
    options: RunTaskOptions<T>,
    onError: RunTaskErrorCallback | undefined,
  ): Promise<T> {

    if (task.forceYield) {
      throw new AutoYieldExecutionError("after_run_task", Math.round(execution.remainingMs() ?? 0), Math.round(execution.elapsedMs()), execution.limitMs);
    }
    switch (task.status) {
      case "CANCELED":
        throw new CanceledWithTaskError(task);
      case "COMPLETED":
        if (task.noop) execution.noopKeys?.add(idempotencyKey);
        return parsed(options, deserializeOutput(task.output, task.outputMeta));
      case "ERRORED":
        throw withFailure(
          new ErrorWithTask(task, `Task ${formatKeyPath(keyPath)} errored${task.error ? `: ${task.error}` : ""}`),
          keyPath,
          task,
        );
      default:
        break;
    }

    execution.checkAutoYield("before_execute_task", execution.thresholds.beforeExecuteTaskThreshold);
    if (task.status === "WAITING" || (task.status === "RUNNING" && task.operation)) throw new ResumeWithTaskError(task);

    const frame: TaskFrame = { id: task.id, idempotencyKey, depth, keyPath };
    const childIo = new IO(execution, frame, this.#integrations);
    try {
      const result = await runScope.run({ execution, frame }, () => cb(task, childIo));
      const serialized = serializeOutput(shownKey, result, execution.outputLimitBytes);
      if (execution.baton) {
        execution.deferCompletion({
          id: task.id,
          ...(serialized.output !== undefined ? { output: serialized.output } : {}),
          ...(serialized.outputMeta !== undefined ? { outputMeta: serialized.outputMeta } : {}),
          completedAt: new Date(),
        }, idempotencyKey);
        // The completion rides on the AUTO_YIELD response if the budget is spent.
        execution.checkAutoYield("after_complete_task", execution.thresholds.afterCompleteTaskThreshold);
      } else {
        const remaining = execution.remainingMs();
        if (remaining !== undefined && remaining < execution.thresholds.beforeCompleteTaskThreshold) {
          throw new AutoYieldWithCompletedTaskExecutionError(task.id, serialized.output, undefined, {
            location: "before_complete_task",
            timeRemaining: Math.round(remaining),
            timeElapsed: Math.round(execution.elapsedMs()),
            ...(execution.limitMs !== undefined ? { limit: execution.limitMs } : {}),
          });
        }
        // outputMeta is ignored by a plain v2 server and kept by a Baton server that did not negotiate the extension.
        await execution.api.completeTask(execution.runId, {
          id: task.id,
          ...(serialized.output !== undefined ? { output: serialized.output } : {}),
          ...(serialized.outputMeta !== undefined ? { outputMeta: serialized.outputMeta } : {}),
        });
        execution.checkAutoYield("after_complete_task", execution.thresholds.afterCompleteTaskThreshold);
      }
      return parsed(options, serialized.value);
    } catch (thrown) {
      if (isTriggerError(thrown)) throw thrown;
      let error: unknown = thrown;
      const alreadyFailed = typeof error === "object" && error !== null && failedTaskInfo.has(error);
      const fatal = error instanceof BatonError && !error.retryable;
      if (!alreadyFailed && !fatal) {
        let skipRetrying = false;
        if (onError) {
          let result: RunTaskErrorResult;
          try {
            result = await onError(error, task, childIo);
          } catch (replacement) {
            if (isTriggerError(replacement)) throw replacement;
            result = replacement instanceof Error ? replacement : new Error(String(replacement));
          }
          if (result instanceof Error) {
            error = result;
          } else if (result) {
            skipRetrying = result.skipRetrying === true;
            if (result.error) error = result.error;
            if (result.retryAt && !skipRetrying) throw new RetryWithTaskError(task, error, result.retryAt);
          }
        }
        if (options.retry && !skipRetrying) {
          const retryAt = calculateRetryAt(options.retry, task.attempts - 1);
          if (retryAt) throw new RetryWithTaskError(task, error, retryAt);
        }
      }
      // the server must know the task (and its finished subtasks) before it records the failure
      if (execution.baton && execution.hasReports) await execution.flush();
      await execution.api.failTask(execution.runId, task.id, toErrorBody(error));
      throw withFailure(error, keyPath, task);
    }
  }

  /**
   * Waits `seconds` durably: a noop task with `delayUntil`; the run suspends and resumes after the delay.
   * `0` returns at once without suspending (and without a server call).
   * @param seconds finite, 0 to {@link MAX_WAIT_SECONDS} (1 year)
   * @throws BatonError `WAIT_INVALID` naming the key and the value otherwise (fails the run; never retried)
   */
  async wait(key: TaskKey, seconds: number): Promise<void> {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS) {
      throw new BatonError(
        "WAIT_INVALID",
        `io.wait("${displayKey(key)}", ${String(seconds)}): seconds must be a finite number from 0 to ${MAX_WAIT_SECONDS} (1 year)`,
        { retryable: false },
      );
    }
    if (seconds === 0) {
      this.#claimKey(key);
      return;
    }
    await this.runTask(key, async () => undefined, {
      name: "wait",
      icon: "clock",
      noop: true,
      delayUntil: new Date(Date.now() + seconds * 1000),
      params: { seconds },
      style: { style: "minimal" },
    });
  }

  /** Marks a key as used without creating a task (duplicate detection still applies). */
  #claimKey(key: TaskKey): void {
    const parent = this.#currentParent();
    const idempotencyKey = taskIdempotencyKey(this.#execution.runId, parent?.id, key);
    if (this.#execution.usedKeys.has(idempotencyKey)) {
      throw new BatonError("TASK_KEY_DUPLICATE", `Task with key "${displayKey(key)}" was already used in this run`, {
        retryable: false,
      });
    }
    this.#execution.usedKeys.add(idempotencyKey);
  }

  async #writeLog(level: LogLevel, message: string, data?: Record<string, unknown>): Promise<void> {
    const execution = this.#execution;
    if (LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf(execution.logLevel)) return;
    const parent = this.#currentParent();
    const scope = parent?.idempotencyKey ?? "";
    const position = execution.logCounters.get(scope) ?? 0;
    execution.logCounters.set(scope, position + 1);
    await this.runTask(["__log", position], async () => undefined, {
      name: "log",
      icon: "log",
      displayKey: `log ${position}`,
      description: message,
      noop: true,
      ...(data !== undefined ? { params: data } : {}),
      properties: [{ label: "Level", text: level.toUpperCase() }],
      style: { style: "minimal", variant: level },
    });
  }

  /** Sends an event as a task (`POST /api/v1/events`); returns the stored event. */
  async sendEvent(key: TaskKey, event: RawEvent, options?: SendEventOptions): Promise<ApiEventLog> {
    return this.runTask(key, async () => this.#execution.api.sendEvent(event, options), {
      name: "Send Event",
      icon: "send",
      params: { event, options },
      properties: [{ label: "name", text: event.name }],
    });
  }

  /** Sends several events as one task (`POST /api/v1/events/bulk`). */
  async sendEvents(key: TaskKey, events: readonly RawEvent[], options?: SendEventOptions): Promise<ApiEventLog[]> {
    return this.runTask(key, async () => this.#execution.api.sendEvents(events, options), {
      name: "Send Multiple Events",
      icon: "send",
      params: { events, options },
      properties: [{ label: "Total Events", text: String(events.length) }],
    });
  }

  /** Cancels a delayed event as a task (`POST /api/v1/events/:id/cancel`). */
  async cancelEvent(key: TaskKey, eventId: string): Promise<ApiEventLog> {
    return this.runTask(key, async () => this.#execution.api.cancelEvent(eventId), {
      name: "cancelEvent",
      params: { eventId },
      properties: [{ label: "id", text: eventId }],
    });
  }

  /** Reads an event and its runs as a task (`GET /api/v2/events/:id`). */
  async getEvent(key: TaskKey, eventId: string): Promise<unknown> {
    return this.runTask(key, async () => this.#execution.api.getEvent(eventId), {
      name: "getEvent",
      params: { id: eventId },
      properties: [{ label: "id", text: eventId }],
    });
  }

  /**
   * A random number, memoized: the same value on every replay.
   * @throws Error when `min > max`
   */
  async random(key: TaskKey, options: { min?: number; max?: number; round?: boolean } = {}): Promise<number> {
    const { min = 0, max = 1, round = false } = options;
    if (min > max) throw new BatonError("CONFIG_INVALID", `io.random("${displayKey(key)}"): min (${min}) is greater than max (${max})`);
    return this.runTask(
      key,
      async () => {
        const value = min + Math.random() * (max - min);
        return round ? Math.round(value) : value;
      },
      { name: "random", icon: "dice-5-filled", params: { min, max, round } },
    );
  }

  /** try/catch that always rethrows control-flow sentinels (v2 `io.try`). */
  async try<T, E>(tryCallback: () => Promise<T>, catchCallback: (error: unknown) => Promise<E>): Promise<T | E> {
    try {
      return await tryCallback();
    } catch (error) {
      if (isTriggerError(error)) throw error;
      return catchCallback(error);
    }
  }

  /**
   * A parent task whose children `cb(item, index)` run in parallel (v2 `io.parallel`, simplified: no 15 ms
   * spacing). Tasks created in `cb` through this `io` (or the top-level one) are children of the parent. The first
   * non-sentinel error is thrown; children that wait or retry end the execution with RESUME_WITH_PARALLEL_TASK.
   */
  async parallel<T, R>(
    key: TaskKey,
    items: readonly T[],
    cb: (item: T, index: number) => Promise<R>,
    options: { name?: string; properties?: readonly DisplayProperty[] } = {},
  ): Promise<R[]> {
    return this.runTask(
      key,
      async (task) => {
        const results = await Promise.allSettled(items.map((item, index) => cb(item, index)));
        const sentinels: ControlFlowSentinel[] = [];
        const values: R[] = [];
        for (const result of results) {
          if (result.status === "fulfilled") {
            values.push(result.value);
            continue;
          }
          if (!isTriggerError(result.reason)) throw result.reason;
          sentinels.push(result.reason);
        }
        if (sentinels.length === 0) return values;
        const waiting = sentinels.every((s) => s instanceof ResumeWithTaskError || s instanceof RetryWithTaskError);
        if (!waiting) throw sentinels[0];
        throw new ResumeWithParallelTaskError(task, sentinels);
      },
      { name: options.name ?? "parallel", parallel: true, ...(options.properties ? { properties: options.properties } : {}) },
    );
  }

  /**
   * Ends this execution and continues the run in a new one (YIELD_EXECUTION), once per key (v2 `io.yield`).
   */
  yield(key: string): void {
    if (this.#execution.yieldedExecutions.has(key)) return;
    throw new YieldExecutionError(key);
  }
}

/** Binds one integration to an `io` (used by job integrations). */
export type IntegrationBinder = (io: IO) => unknown;

/** A task's output as `runTask` returns it: through `options.parseOutput` when there is one. */
function parsed<T>(options: RunTaskOptions<T>, value: unknown): T {
  return options.parseOutput ? options.parseOutput(value) : (value as T);
}

function withFailure(error: unknown, keyPath: readonly string[], task: ServerTaskWithMeta | undefined): unknown {
  if (typeof error === "object" && error !== null && !failedTaskInfo.has(error)) failedTaskInfo.set(error, { keyPath, task });
  return error;
}

function toJsonValue(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as unknown;
  } catch {
    return String(value);
  }
}

/**
 * The CANCELED task a stopped execution answers with (its run was canceled, or the server stopped waiting for this
 * execution): nothing of it was stored, as v2's create answers on a canceled run.
 */
function stoppedTask(idempotencyKey: string, parentId: string | null, options: RunTaskOptions<unknown>): ServerTaskWithMeta {
  return {
    id: newPrefixedId("task"),
    idempotencyKey,
    name: options.name ?? "Task",
    icon: options.icon ?? null,
    noop: options.noop ?? false,
    status: "CANCELED",
    attempts: 0,
    parentId,
    startedAt: null,
    completedAt: new Date(),
    delayUntil: null,
    description: options.description ?? null,
    params: null,
    output: null,
    error: null,
    forceYield: false,
  };
}
