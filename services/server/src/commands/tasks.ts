import {
  API_VERSIONS,
  type BatonCompletedTask,
  type CompleteTaskBodyInput,
  type EventMetadata,
  type FailTaskBody,
  type RunTaskBodyInput,
  type ServerTask,
} from "@baton/core";
import { ApiError, conflict, notFound, tooLarge } from "../errors";
import { UnitOfWork } from "../event-store/store";
import { newId } from "../ids";
import type { Environment } from "../keys";
import type { RunRow, TaskRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { reviveDates } from "./ingest";
import { stateWithRun } from "./load";

/** v2 documents 5 levels of subtasks; Baton enforces it (the SDK checks first, the server again). */
export const MAX_TASK_DEPTH = 5;

export const RUN_DATES = ["created_at", "queued_at", "started_at", "completed_at", "updated_at", "execution_started_at", "resume_at"] as const;
export const TASK_DATES = ["delay_until", "created_at", "started_at", "completed_at", "updated_at"] as const;

function parseOutput(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The v2 `ServerTask` view of a task row, plus Baton's `outputMeta` (ignored by v2 clients). */
export function toServerTask(t: TaskRow): ServerTask & { outputMeta?: unknown } {
  const error = t.error as { message?: string } | null;
  return {
    id: t.id,
    name: t.name,
    icon: t.icon,
    noop: t.noop,
    startedAt: t.started_at,
    completedAt: t.completed_at,
    delayUntil: t.delay_until,
    status: t.status,
    description: t.description,
    properties: (t.properties as ServerTask["properties"]) ?? null,
    outputProperties: (t.output_properties as ServerTask["outputProperties"]) ?? null,
    params: (t.params as ServerTask["params"]) ?? null,
    // v2 SDKs fail a parent task with an ERRORED subtask's `output`, so an errored task carries its error there
    output:
      t.status === "COMPLETED"
        ? (parseOutput(t.output) as ServerTask["output"])
        : t.status === "ERRORED"
          ? ((t.error as ServerTask["output"]) ?? null)
          : null,
    ...(t.status === "COMPLETED" && t.output_meta ? { outputMeta: t.output_meta } : {}),
    context: null,
    error: error?.message ?? null,
    parentId: t.parent_id,
    style: (t.style as ServerTask["style"]) ?? null,
    operation: t.operation,
    callbackUrl: null,
    childExecutionMode: t.parallel ? "PARALLEL" : "SEQUENTIAL",
    idempotencyKey: t.idempotency_key,
    attempts: t.attempts,
    forceYield: false,
  };
}

/** Output bytes as stored (UTF-8 of the JSON text). @throws ApiError 413 naming the limit. */
export function checkOutputSize(ctx: CommandContext, output: string | null | undefined, what: string): void {
  if (output == null) return;
  const bytes = Buffer.byteLength(output, "utf8");
  if (bytes > ctx.config.maxOutputBytes) {
    throw tooLarge(
      `${what} is ${bytes} bytes; the limit is ${ctx.config.maxOutputBytes} bytes (BATON_MAX_OUTPUT_BYTES)`,
      ctx.config.maxOutputBytes,
    );
  }
}

/**
 * Applies Baton's deferred completions (`completedTasks`, see docs/ARCHITECTURE.md) to a unit of work: each RUNNING
 * or WAITING task of the run becomes COMPLETED; finished tasks are left as they are (idempotent).
 */
export function applyCompletions(
  ctx: CommandContext,
  uow: UnitOfWork,
  run: RunRow,
  completions: readonly BatonCompletedTask[] | undefined,
  metadata: EventMetadata,
): void {
  for (const c of completions ?? []) {
    const task = uow.state.tasks.get(c.id);
    if (!task || task.run_id !== run.id) throw new ApiError("validation_failed", `completedTasks: task ${c.id} is not a task of run ${run.id}`);
    if (task.status !== "RUNNING" && task.status !== "WAITING") continue;
    checkOutputSize(ctx, c.output, `output of task ${task.display_key ?? task.id}`);
    const current = uow.state.runs.get(run.id)!;
    uow.append(
      run.id,
      current.version,
      [
        {
          type: "task.completed",
          data: { taskId: c.id, output: c.output ?? null, outputMeta: c.outputMeta ?? undefined, properties: c.properties },
        },
      ],
      metadata,
    );
  }
}

interface TaskContext {
  run: RunRow | undefined;
  existing: TaskRow | undefined;
  parent: TaskRow | undefined;
  completing: TaskRow[];
}

/** The run and tasks a task-API call needs: from the run cache when this process executes the run, else one read. */
async function loadTaskContext(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  idempotencyKey: string | null,
  parentId: string | null,
  completingIds: readonly string[],
): Promise<TaskContext> {
  const cached = ctx.runCache.get(runId);
  // a task the cache does not know was created through another process: then read afresh
  const complete = cached !== undefined && (parentId === null || cached.tasks.has(parentId)) && completingIds.every((id) => cached.tasks.has(id));
  if (cached && complete && cached.run.environment_id === env.id && cached.run.status === "EXECUTING") {
    const existingId = idempotencyKey === null ? undefined : cached.byKey.get(idempotencyKey);
    return {
      run: cached.run,
      existing: existingId ? cached.tasks.get(existingId) : undefined,
      parent: parentId ? cached.tasks.get(parentId) : undefined,
      completing: completingIds.map((id) => cached.tasks.get(id)).filter((t) => t !== undefined),
    };
  }
  const { rows } = await ctx.pool.query<{
    run: Record<string, unknown> | null;
    existing: Record<string, unknown> | null;
    parent: Record<string, unknown> | null;
    completing: Record<string, unknown>[];
  }>(
    `select
       (select row_to_json(r) from baton.runs r where r.id = $1 and r.environment_id = $2) as run,
       (select row_to_json(t) from baton.tasks t where t.run_id = $1 and t.idempotency_key = $3) as existing,
       (select row_to_json(p) from baton.tasks p where p.run_id = $1 and p.id = $4) as parent,
       (select coalesce(json_agg(c), '[]') from baton.tasks c where c.run_id = $1 and c.id = any($5::text[])) as completing`,
    [runId, env.id, idempotencyKey, parentId, completingIds],
  );
  const row = rows[0]!;
  return {
    run: row.run ? reviveDates<RunRow>(row.run, RUN_DATES) : undefined,
    existing: row.existing ? reviveDates<TaskRow>(row.existing, TASK_DATES) : undefined,
    parent: row.parent ? reviveDates<TaskRow>(row.parent, TASK_DATES) : undefined,
    completing: row.completing.map((t) => reviveDates<TaskRow>(t, TASK_DATES)),
  };
}

function canceledTask(body: RunTaskBodyInput, idempotencyKey: string): ServerTask {
  return {
    id: newId("task"),
    name: body.name ?? "Task",
    icon: body.icon ?? null,
    noop: body.noop ?? false,
    status: "CANCELED",
    idempotencyKey,
    attempts: 0,
    parentId: body.parentId ?? null,
    startedAt: null,
    completedAt: new Date(),
    delayUntil: null,
    description: body.description ?? null,
    params: null,
    output: null,
    error: null,
    forceYield: false,
  };
}

/**
 * `POST /api/v1/runs/:runId/tasks`: creates a task, idempotent on (run, idempotency key) also under concurrent
 * duplicates (an existing task is returned as it is). Applies Baton's piggybacked `completedTasks` first, in the same
 * transaction: one commit per new task. Initial status as v2: WAITING when `delayUntil` is in the future, COMPLETED
 * for a noop (waits due now, logs), else RUNNING. On a canceled run the task comes back CANCELED and nothing is stored.
 * @throws ApiError 404 unknown run (or another environment's), 409 run not executing, 422 deeper than 5 levels or
 *   an unsupported option (callbacks, background operations), 413 output too large.
 */
export async function createTask(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  idempotencyKey: string,
  body: RunTaskBodyInput,
  metadata: EventMetadata,
): Promise<ServerTask> {
  if (body.callback?.enabled) throw new ApiError("validation_failed", "callback tasks (io.waitForRequest/waitForEvent) are not supported by Baton yet", [{ path: "callback", message: "not supported" }]);
  if (body.operation) throw new ApiError("validation_failed", `background operation "${body.operation}" is not supported by Baton yet`, [{ path: "operation", message: "not supported" }]);
  return await retryOnConflict(async () => {
    const completions = body.completedTasks ?? [];
    const tc = await loadTaskContext(ctx, env, runId, idempotencyKey, body.parentId ?? null, completions.map((c) => c.id));
    const run = tc.run;
    if (!run) throw notFound(`run ${runId}`);
    if (run.status === "CANCELED") return canceledTask(body, idempotencyKey);
    const uow = new UnitOfWork(stateWithRun(run, [...tc.completing, ...(tc.existing ? [tc.existing] : [])]));
    if (run.status !== "EXECUTING" && !tc.existing) {
      throw conflict(`run ${runId} is ${run.status}; tasks can only be created while it is EXECUTING`);
    }
    applyCompletions(ctx, uow, run, completions, metadata);
    if (tc.existing) {
      if (!uow.isEmpty) await commitRunWrite(ctx, uow, run.id);
      return toServerTask(uow.state.tasks.get(tc.existing.id) ?? tc.existing);
    }
    if (body.parentId && !tc.parent) throw new ApiError("validation_failed", `parentId ${body.parentId} is not a task of run ${runId}`, [{ path: "parentId", message: "unknown task" }]);
    const depth = tc.parent ? tc.parent.depth + 1 : 1;
    if (depth > MAX_TASK_DEPTH) {
      throw new ApiError(
        "validation_failed",
        `task "${body.displayKey ?? idempotencyKey}" would be nested ${depth} levels deep; the limit is ${MAX_TASK_DEPTH}`,
        [{ path: "parentId", message: `nesting limit ${MAX_TASK_DEPTH}` }],
      );
    }
    const now = uow.now;
    const delayed = body.delayUntil && body.delayUntil.getTime() > now.getTime();
    const status = delayed ? "WAITING" : body.noop ? "COMPLETED" : "RUNNING";
    const taskId = newId("task");
    const current = uow.state.runs.get(run.id)!;
    const isLog = body.noop && body.name === "log" && !delayed;
    uow.append(
      run.id,
      current.version,
      [
        isLog
          ? {
              type: "log.written",
              data: {
                taskId,
                idempotencyKey,
                parentId: body.parentId ?? null,
                depth,
                level: body.properties?.find((p) => p.label === "Level")?.text ?? body.style?.variant?.toUpperCase() ?? "INFO",
                message: body.description ?? "",
                data: body.params,
                style: body.style,
              },
            }
          : {
              type: "task.created",
              data: {
                taskId,
                idempotencyKey,
                parentId: body.parentId ?? null,
                depth,
                name: body.name ?? "Task",
                displayKey: body.displayKey ?? null,
                icon: body.icon ?? null,
                description: body.description ?? null,
                params: body.params,
                properties: body.properties,
                style: body.style ?? { style: "normal" },
                noop: body.noop ?? false,
                operation: null,
                parallel: body.parallel ?? false,
                status,
                delayUntil: body.delayUntil ? body.delayUntil.toISOString() : null,
                retry: body.retry,
                redact: body.redact,
              },
            },
      ],
      metadata,
    );
    await commitRunWrite(ctx, uow, run.id);
    return toServerTask(uow.state.tasks.get(taskId)!);
  }, undefined, () => ctx.runCache.delete(runId));
}

/** Commits a task-API unit of work and keeps this process's run cache in step with what was written. */
async function commitRunWrite(ctx: CommandContext, uow: UnitOfWork, runId: string): Promise<void> {
  await uow.commit(ctx.pool);
  const run = uow.state.runs.get(runId);
  if (run) ctx.runCache.update(run, uow.state.tasks.values());
}

/** Reads the output text of a complete request: v2 ≥ 2023-11-01 sends a JSON string; older clients the value. */
export function completionOutput(body: CompleteTaskBodyInput & { output?: unknown }, apiVersion: string | undefined): string | null {
  if (body.output === undefined) return null;
  if (apiVersion && apiVersion >= API_VERSIONS.SERIALIZED_TASK_OUTPUT && typeof body.output === "string") return body.output;
  return JSON.stringify(body.output);
}

async function loadRunAndTask(ctx: CommandContext, env: Environment, runId: string, taskId: string): Promise<{ run: RunRow; task: TaskRow }> {
  const tc = await loadTaskContext(ctx, env, runId, null, null, [taskId]);
  if (!tc.run) throw notFound(`run ${runId}`);
  const task = tc.completing[0];
  if (!task) throw notFound(`task ${taskId} of run ${runId}`);
  return { run: tc.run, task };
}

/**
 * `POST /api/v1/runs/:runId/tasks/:id/complete`: records the output (≤ `maxOutputBytes`, 413 naming the limit).
 * Idempotent: a task that already finished is returned as it is. A canceled run's tasks are not changed.
 */
export async function completeTask(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  taskId: string,
  output: string | null,
  body: CompleteTaskBodyInput,
  metadata: EventMetadata,
): Promise<ServerTask> {
  checkOutputSize(ctx, output, `output of task ${taskId}`);
  return await retryOnConflict(async () => {
    const { run, task } = await loadRunAndTask(ctx, env, runId, taskId);
    if (run.status === "CANCELED" || (task.status !== "RUNNING" && task.status !== "WAITING")) return toServerTask(task);
    const uow = new UnitOfWork(stateWithRun(run, [task]));
    uow.append(
      run.id,
      run.version,
      [{ type: "task.completed", data: { taskId, output, outputMeta: body.outputMeta ?? undefined, properties: body.properties } }],
      metadata,
    );
    await commitRunWrite(ctx, uow, run.id);
    return toServerTask(uow.state.tasks.get(taskId)!);
  }, undefined, () => ctx.runCache.delete(runId));
}

/** `POST /api/v1/runs/:runId/tasks/:id/fail`: records a failed attempt (task → ERRORED). Idempotent on finished tasks. */
export async function failTask(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  taskId: string,
  body: FailTaskBody,
  metadata: EventMetadata,
): Promise<ServerTask> {
  return await retryOnConflict(async () => {
    const { run, task } = await loadRunAndTask(ctx, env, runId, taskId);
    if (run.status === "CANCELED" || (task.status !== "RUNNING" && task.status !== "WAITING")) return toServerTask(task);
    const uow = new UnitOfWork(stateWithRun(run, [task]));
    const error = body.error as { message: string; name?: string; stack?: string };
    uow.append(run.id, run.version, [{ type: "task.failed", data: { taskId, error: { message: error.message, name: error.name, stack: error.stack } } }], metadata);
    await commitRunWrite(ctx, uow, run.id);
    return toServerTask(uow.state.tasks.get(taskId)!);
  }, undefined, () => ctx.runCache.delete(runId));
}
