/**
 * Errors of the Baton SDK.
 *
 * Two families:
 * - **control-flow sentinels** (`ResumeWithTaskError`, `RetryWithTaskError`, ...): thrown to end the current
 *   execution with a `RunJobResponse` status other than SUCCESS/ERROR. User code must let them through
 *   (`io.try` does; a hand-written `try/catch` must rethrow when {@link isTriggerError} is true). As v2 §2.8.
 * - **{@link BatonError}**: ordinary errors with a stable `code`. Those with `retryable: false` fail their task
 *   at once, whatever its `retry` option says.
 */
import type { DisplayProperty, ServerTask } from "@baton/core";

/** Stable codes of {@link BatonError}. */
export type BatonErrorCode =
  | "CONFIG_INVALID"
  | "API_KEY_MISSING"
  | "API_KEY_INVALID"
  | "JOB_VERSION_INVALID"
  | "TRIGGER_INVALID"
  | "TASK_KEY_DUPLICATE"
  | "TASK_NESTING_TOO_DEEP"
  | "TASK_OUTPUT_UNSERIALIZABLE"
  | "TASK_OUTPUT_TOO_LARGE"
  | "WAIT_INVALID"
  | "INVOKE_OUTSIDE_RUN"
  | "API_ERROR"
  | "TASK_ERRORED";

/** An SDK error with a stable `code`; `retryable: false` means a task failing with it is never retried. */
export class BatonError extends Error {
  override readonly name: string = "BatonError";
  readonly code: BatonErrorCode;
  readonly retryable: boolean;

  constructor(code: BatonErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? true;
  }
}

/** A 4xx answer, or a 5xx/network failure that outlived the retries, of the Baton server API. */
export class ApiError extends BatonError {
  override readonly name = "ApiError";
  /** HTTP status, or 0 when the server never answered. */
  readonly status: number;
  /** The server's `error.code` from its `{error:{code,message}}` envelope, when present. */
  readonly serverCode: string | undefined;

  constructor(status: number, message: string, serverCode?: string, cause?: unknown) {
    super("API_ERROR", message, { cause, retryable: status === 0 || status >= 500 });
    this.status = status;
    this.serverCode = serverCode;
  }
}

/** The task carried by sentinels: the server's `ServerTask`. */
export type SentinelTask = ServerTask;

/** Base class of every control-flow sentinel. */
export abstract class ControlFlowSentinel extends Error {
  override readonly name: string = "ControlFlowSentinel";
}

/** The task is WAITING (delay, retry backoff, callback): end with `RESUME_WITH_TASK`. */
export class ResumeWithTaskError extends ControlFlowSentinel {
  override readonly name = "ResumeWithTaskError";
  constructor(readonly task: SentinelTask) {
    super(`Resume with task ${task.id}`);
  }
}

/** A parallel parent whose children wait or retry: end with `RESUME_WITH_PARALLEL_TASK`. */
export class ResumeWithParallelTaskError extends ControlFlowSentinel {
  override readonly name = "ResumeWithParallelTaskError";
  constructor(
    readonly task: SentinelTask,
    readonly childErrors: readonly ControlFlowSentinel[],
  ) {
    super(`Resume with parallel task ${task.id}`);
  }
}

/** The task failed and will be retried at `retryAt`: end with `RETRY_WITH_TASK`. */
export class RetryWithTaskError extends ControlFlowSentinel {
  override readonly name = "RetryWithTaskError";
  constructor(
    readonly task: SentinelTask,
    readonly error: unknown,
    readonly retryAt: Date,
  ) {
    super(`Retry task ${task.id} at ${retryAt.toISOString()}`);
  }
}

/** The server says the run was canceled: end with `CANCELED`. */
export class CanceledWithTaskError extends ControlFlowSentinel {
  override readonly name = "CanceledWithTaskError";
  constructor(readonly task: SentinelTask) {
    super(`Run canceled (task ${task.id})`);
  }
}

/** `io.yield(key)`: end with `YIELD_EXECUTION`. */
export class YieldExecutionError extends ControlFlowSentinel {
  override readonly name = "YieldExecutionError";
  constructor(readonly key: string) {
    super(`Yield execution ${key}`);
  }
}

/** Where an auto-yield happened, as v2 reports it. */
export type AutoYieldLocation =
  | "start_task"
  | "before_execute_task"
  | "before_complete_task"
  | "after_complete_task"
  | "after_run_task";

/** The execution's time budget is nearly spent: end with `AUTO_YIELD_EXECUTION`. */
export class AutoYieldExecutionError extends ControlFlowSentinel {
  override readonly name = "AutoYieldExecutionError";
  constructor(
    readonly location: AutoYieldLocation,
    readonly timeRemaining: number,
    readonly timeElapsed: number,
    readonly limit?: number,
  ) {
    super(`Auto-yield at ${location} (${timeRemaining} ms left)`);
  }
}

/** As {@link AutoYieldExecutionError}, carrying a finished task for the server to complete (v2 mode). */
export class AutoYieldWithCompletedTaskExecutionError extends ControlFlowSentinel {
  override readonly name = "AutoYieldWithCompletedTaskExecutionError";
  constructor(
    readonly id: string,
    readonly output: string | undefined,
    readonly properties: DisplayProperty[] | undefined,
    readonly data: { location: AutoYieldLocation; timeRemaining: number; timeElapsed: number; limit?: number },
  ) {
    super(`Auto-yield with completed task ${id}`);
  }
}

/** True for the SDK's control-flow sentinels, which user code must rethrow (v2 `isTriggerError`). */
export function isTriggerError(error: unknown): error is ControlFlowSentinel {
  return error instanceof ControlFlowSentinel;
}

/** The server reported a task as ERRORED (e.g. it failed in an earlier execution); fails the run. */
export class ErrorWithTask extends BatonError {
  override readonly name = "ErrorWithTask";
  constructor(
    readonly task: SentinelTask,
    message: string,
  ) {
    super("TASK_ERRORED", message, { retryable: false });
  }
}

/** The payload did not match the trigger's schema: becomes an `INVALID_PAYLOAD` response. */
export class ParsedPayloadSchemaError extends Error {
  override readonly name = "ParsedPayloadSchemaError";
  constructor(readonly schemaErrors: ReadonlyArray<{ path: string[]; message: string }>) {
    super("Invalid payload");
  }
}

/** Render any thrown value as the v2 `{message, name?, stack?}` error body. */
export function toErrorBody(error: unknown): { message: string; name?: string; stack?: string } {
  if (error instanceof Error) {
    return { message: error.message, name: error.name, ...(error.stack ? { stack: error.stack } : {}) };
  }
  if (typeof error === "string") return { message: error };
  try {
    return { message: JSON.stringify(error) ?? String(error) };
  } catch {
    return { message: String(error) };
  }
}
