import type { BatonEventBody, EventMetadata } from "@baton/core";
import { spanIdOf, traceIdOf } from "./ids";

/** One event of a run's stream, as the trace builder reads it. */
export type RunStreamEvent = BatonEventBody & {
  readonly position: string;
  readonly metadata: EventMetadata;
  readonly occurredAt: Date;
};

export type SpanAttributes = Record<string, string | number | boolean>;

/** A span to emit: everything is known up front because the run already ended. */
export interface SpanSpec {
  /** Stable name the span id derives from: `run:<id>`, `task:<id>`, `execution:<run id>:<n>`. */
  readonly key: string;
  readonly spanId: string;
  /** `key` of the parent span; `null` for the run's span. */
  readonly parentKey: string | null;
  readonly name: string;
  readonly start: Date;
  end: Date;
  readonly attributes: SpanAttributes;
  readonly events: Array<{ name: string; time: Date; attributes: SpanAttributes }>;
  status: { code: "unset" | "ok" | "error"; message?: string };
}

/** W3C trace context parsed from a `traceparent` header. */
export interface RemoteParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

/** The spans of one run, parents before children. */
export interface RunTrace {
  readonly runId: string;
  /** The ingesting request's trace context (the run span's parent), if the request carried one. */
  readonly parent: RemoteParent | null;
  /** The trace id: the parent's, or one derived from the run id. */
  readonly traceId: string;
  readonly spans: SpanSpec[];
}

/** Parses `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. @returns null for anything else. */
export function parseTraceparent(header: string | null | undefined): RemoteParent | null {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header?.trim().toLowerCase() ?? "");
  if (!m || m[1] === "ff" || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null;
  return { traceId: m[2]!, spanId: m[3]!, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
}

const RUN_END_STATUS: Readonly<Record<string, string>> = {
  "run.succeeded": "SUCCESS",
  "run.failed": "FAILURE",
  "run.timed_out": "TIMED_OUT",
  "run.canceled": "CANCELED",
  "run.invalid_payload": "INVALID_PAYLOAD",
};

/** The run events that end one execution (one EXECUTE_JOB request). */
const EXECUTION_END = new Set(["run.waiting", "run.yielded", "run.execution_failed", ...Object.keys(RUN_END_STATUS)]);

const actorText = (m: EventMetadata): string | undefined => {
  const a = m.actor;
  if (!a) return undefined;
  switch (a.type) {
    case "api_key":
      return `api_key:${a.keyHint}`;
    case "worker":
      return `worker:${a.id}`;
    case "endpoint":
      return `endpoint:${a.environmentId}`;
    case "system":
      return a.reason ? `system:${a.reason}` : "system";
  }
};

const errorAttributes = (error: { message: string; name?: string | undefined; stack?: string | undefined }): SpanAttributes => ({
  "exception.message": error.message,
  ...(error.name ? { "exception.type": error.name } : {}),
  ...(error.stack ? { "exception.stacktrace": error.stack } : {}),
});

/**
 * Builds the spans of one run from its event stream (in version order): a span for the run (parent: the ingesting
 * request's `traceparent`), a child span per execution, a span per task under its parent task or the run, waits as
 * the spans of their wait tasks, each finished attempt and each scheduled retry as span events of its task, and logs
 * as span events of the span they were written in. Attributes are under `baton.*`. Pure: the same events always give
 * the same spans and ids.
 * @returns undefined when the stream has no `run.created`.
 */
export function buildRunTrace(events: readonly RunStreamEvent[]): RunTrace | undefined {
  const created = events.find((e) => e.type === "run.created");
  if (!created || created.type !== "run.created") return undefined;
  const d = created.data;
  const parent = parseTraceparent(d.traceparent);
  const runKey = `run:${d.runId}`;
  const spans = new Map<string, SpanSpec>();
  const last = events[events.length - 1]!;
  const runSpan: SpanSpec = {
    key: runKey,
    spanId: spanIdOf(runKey),
    parentKey: null,
    name: `run ${d.jobSlug}`,
    start: created.occurredAt,
    end: last.occurredAt,
    attributes: {
      "baton.run.id": d.runId,
      "baton.job.id": d.jobSlug,
      "baton.job.version": d.jobVersion,
      "baton.environment.id": d.environmentId,
      "baton.endpoint.id": d.endpointId,
      "baton.event_record.id": d.eventRecordId,
      "baton.run.is_test": d.isTest,
      ...(d.rerunOf ? { "baton.run.rerun_of": d.rerunOf } : {}),
    },
    events: [],
    status: { code: "unset" },
  };
  spans.set(runKey, runSpan);
  const taskKeyOf = (taskId: string | null | undefined): string | null => (taskId && spans.has(`task:${taskId}`) ? `task:${taskId}` : null);
  const taskSpan = (taskId: string): SpanSpec | undefined => spans.get(`task:${taskId}`);
  /** Open attempt of each task: [number, start]. */
  const attempts = new Map<string, { number: number; start: Date }>();
  let execution: SpanSpec | undefined;
  let executions = 0;
  const finishAttempt = (taskId: string, at: Date, outcome: string, error?: { message: string }): void => {
    const span = taskSpan(taskId);
    const open = attempts.get(taskId);
    if (!span || !open) return;
    span.events.push({
      name: "attempt",
      time: at,
      attributes: {
        "baton.attempt": open.number,
        "baton.attempt.outcome": outcome,
        "baton.attempt.duration_ms": at.getTime() - open.start.getTime(),
        ...(error ? { "exception.message": error.message } : {}),
      },
    });
    span.attributes["baton.task.attempts"] = open.number;
  };
  const log = (parentId: string | null, at: Date, level: string, message: string, data: unknown): void => {
    const target = spans.get(taskKeyOf(parentId) ?? runKey)!;
    target.events.push({
      name: "log",
      time: at,
      attributes: {
        "baton.log.level": level.toUpperCase(),
        "baton.log.message": message,
        ...(data !== undefined && data !== null ? { "baton.log.data": JSON.stringify(data) } : {}),
      },
    });
  };

  for (const e of events) {
    const at = e.occurredAt;
    switch (e.type) {
      case "run.started": {
        executions += 1;
        const key = `execution:${d.runId}:${executions}`;
        execution = {
          key,
          spanId: spanIdOf(key),
          parentKey: runKey,
          name: "execution",
          start: at,
          end: at,
          attributes: {
            "baton.run.id": d.runId,
            "baton.execution.number": executions,
            "baton.execution.id": e.data.executionId,
            "baton.worker.id": e.data.workerId,
            "baton.run.is_retry": e.data.isRetry,
          },
          events: [],
          status: { code: "unset" },
        };
        spans.set(key, execution);
        break;
      }
      case "task.created": {
        const t = e.data;
        if (t.name === "log" && t.noop) {
          const level = (t.properties as Array<{ text?: string }> | undefined)?.[0]?.text ?? "INFO";
          log(t.parentId, at, level, t.description ?? "", t.params);
          break;
        }
        const key = `task:${t.taskId}`;
        // a task the endpoint started itself (Baton protocol 2) carries its real start
        const startedAt = t.startedAt ? new Date(t.startedAt) : at;
        spans.set(key, {
          key,
          spanId: spanIdOf(key),
          parentKey: taskKeyOf(t.parentId) ?? runKey,
          name: t.displayKey ? `${t.name} ${t.displayKey}` : t.name,
          start: startedAt,
          end: last.occurredAt,
          attributes: {
            "baton.run.id": d.runId,
            "baton.task.id": t.taskId,
            "baton.task.name": t.name,
            "baton.task.key": t.displayKey ?? t.idempotencyKey,
            "baton.task.idempotency_key": t.idempotencyKey,
            "baton.task.noop": t.noop,
            "baton.task.depth": t.depth,
            "baton.task.attempts": 1,
            ...(t.icon ? { "baton.task.icon": t.icon } : {}),
            ...(t.operation ? { "baton.task.operation": t.operation } : {}),
            ...(t.delayUntil ? { "baton.task.delay_until": t.delayUntil, "baton.task.wait": true } : {}),
            ...(t.params !== undefined && t.params !== null ? { "baton.task.params": JSON.stringify(t.params) } : {}),
          },
          events: [],
          status: { code: "unset" },
        });
        attempts.set(t.taskId, { number: 1, start: startedAt });
        if (t.status === "COMPLETED" || t.status === "CANCELED") {
          finishAttempt(t.taskId, startedAt, t.status);
          spans.get(key)!.end = startedAt;
        }
        break;
      }
      case "log.written":
        log(e.data.parentId, at, e.data.level, e.data.message, e.data.data);
        break;
      case "task.completed": {
        // a deferred completion carries when the body returned (never before the span's start)
        const reported = e.data.completedAt ? new Date(e.data.completedAt) : undefined;
        const span = taskSpan(e.data.taskId);
        const end = reported && (!span || reported >= span.start) ? reported : at;
        finishAttempt(e.data.taskId, end, "COMPLETED");
        if (span) {
          span.end = end;
          span.status = { code: "ok" };
        }
        break;
      }
      case "task.failed": {
        finishAttempt(e.data.taskId, at, "ERRORED", e.data.error);
        const span = taskSpan(e.data.taskId);
        if (span) {
          span.end = at;
          span.status = { code: "error", message: e.data.error.message };
          span.events.push({ name: "exception", time: at, attributes: errorAttributes(e.data.error) });
        }
        break;
      }
      case "task.retry_scheduled": {
        finishAttempt(e.data.taskId, at, "ERRORED", e.data.error);
        const open = attempts.get(e.data.taskId);
        taskSpan(e.data.taskId)?.events.push({
          name: "retry_scheduled",
          time: at,
          attributes: { "baton.attempt": (open?.number ?? 1) + 1, "baton.retry_at": e.data.retryAt, "exception.message": e.data.error.message },
        });
        attempts.set(e.data.taskId, { number: (open?.number ?? 1) + 1, start: new Date(e.data.retryAt) });
        break;
      }
      case "task.resumed": {
        const open = attempts.get(e.data.taskId);
        if (open) attempts.set(e.data.taskId, { number: open.number, start: at });
        const span = taskSpan(e.data.taskId);
        if (span) span.events.push({ name: "resumed", time: at, attributes: { "baton.attempt": open?.number ?? 1 } });
        if (e.data.status === "COMPLETED") {
          finishAttempt(e.data.taskId, at, "COMPLETED");
          if (span) {
            span.end = at;
            span.status = { code: "ok" };
          }
        }
        break;
      }
      case "task.canceled": {
        finishAttempt(e.data.taskId, at, "CANCELED");
        const span = taskSpan(e.data.taskId);
        if (span) {
          span.end = at;
          span.events.push({ name: "canceled", time: at, attributes: {} });
        }
        break;
      }
      case "task.reset": {
        const open = attempts.get(e.data.taskId);
        attempts.set(e.data.taskId, { number: (open?.number ?? 1) + 1, start: at });
        taskSpan(e.data.taskId)?.events.push({ name: "reset", time: at, attributes: { "baton.attempt": (open?.number ?? 1) + 1 } });
        break;
      }
      case "run.waiting":
        runSpan.events.push({
          name: "run.waiting",
          time: at,
          attributes: {
            "baton.wait.reason": e.data.reason,
            "baton.task.id": e.data.taskId,
            ...(e.data.resumeAt ? { "baton.wait.resume_at": e.data.resumeAt } : {}),
          },
        });
        break;
      case "run.resumed":
        runSpan.events.push({ name: "run.resumed", time: at, attributes: e.data.taskId ? { "baton.task.id": e.data.taskId } : {} });
        break;
      case "run.yielded":
        runSpan.events.push({ name: "run.yielded", time: at, attributes: { "baton.yield.reason": e.data.reason } });
        break;
      case "run.execution_failed":
        if (execution) {
          execution.status = { code: "error", message: e.data.error.message };
          execution.events.push({ name: "exception", time: at, attributes: { ...errorAttributes(e.data.error), "baton.retry_at": e.data.retryAt } });
        }
        break;
      case "run.continued":
        runSpan.events.push({ name: "run.continued", time: at, attributes: actorText(e.metadata) ? { "baton.actor": actorText(e.metadata)! } : {} });
        break;
      case "run.failed":
        runSpan.status = { code: "error", message: e.data.error.message };
        runSpan.events.push({ name: "exception", time: at, attributes: errorAttributes(e.data.error) });
        break;
      case "run.timed_out":
        runSpan.status = { code: "error", message: e.data.reason };
        break;
      case "run.invalid_payload":
        runSpan.status = { code: "error", message: "Invalid payload" };
        break;
      case "run.canceled":
        runSpan.events.push({ name: "run.canceled", time: at, attributes: actorText(e.metadata) ? { "baton.actor": actorText(e.metadata)! } : {} });
        break;
      case "run.succeeded":
        runSpan.status = { code: "ok" };
        break;
      default:
        break;
    }
    if (EXECUTION_END.has(e.type) && execution) {
      execution.end = at;
      execution = undefined;
    }
    const status = RUN_END_STATUS[e.type];
    if (status) {
      runSpan.end = at;
      runSpan.attributes["baton.run.status"] = status;
    }
  }
  runSpan.attributes["baton.run.executions"] = executions;
  return { runId: d.runId, parent, traceId: parent?.traceId ?? traceIdOf(d.runId), spans: [...spans.values()] };
}
