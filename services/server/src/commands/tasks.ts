import {
  API_VERSIONS,
  type BatonCompletedTask,
  type BatonStartedTask,
  type TaskReportBody,
  type TaskReportResult,
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
import { commitStagedClaim, requestStagedClaim } from "./staged-claims";

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
 * or WAITING task of the run becomes COMPLETED; finished tasks are left as they are (idempotent). `alias` maps a
 * reported task id to the id the server already had for that task's key (see {@link applyStartedTasks}).
 * @throws ApiError 422 for a task that is not the run's, 413 for an output over the limit.
 */
export function applyCompletions(
  ctx: CommandContext,
  uow: UnitOfWork,
  run: RunRow,
  completions: readonly BatonCompletedTask[] | undefined,
  metadata: EventMetadata,
  alias: ReadonlyMap<string, string> = new Map(),
): void {
  for (const c of completions ?? []) {
    const id = alias.get(c.id) ?? c.id;
    const task = uow.state.tasks.get(id);
    if (!task || task.run_id !== run.id) throw new ApiError("validation_failed", `completedTasks: task ${c.id} is not a task of run ${run.id}`);
    if (task.status !== "RUNNING" && task.status !== "WAITING") continue;
    checkOutputSize(ctx, c.output, `output of task ${task.display_key ?? task.id}`);
    const current = uow.state.runs.get(run.id)!;
    const completedAt = c.completedAt && c.completedAt.getTime() < uow.now.getTime() ? c.completedAt.toISOString() : undefined;
    uow.append(
      run.id,
      current.version,
      [
        {
          type: "task.completed",
          data: { taskId: id, output: c.output ?? null, outputMeta: c.outputMeta ?? undefined, properties: c.properties, ...(completedAt ? { completedAt } : {}) },
        },
      ],
      metadata,
    );
  }
}

/** What a new task is made from: a v2 task-creation body or a Baton started-task report. */
interface NewTask {
  readonly idempotencyKey: string;
  readonly parentId?: string | null | undefined;
  readonly displayKey?: string | undefined;
  readonly name?: string | undefined;
  readonly icon?: string | undefined;
  readonly description?: string | undefined;
  readonly params?: unknown;
  readonly properties?: readonly { label: string; text: string; url?: string | undefined }[] | undefined;
  readonly style?: { style: "normal" | "minimal"; variant?: string | undefined } | undefined;
  readonly noop?: boolean | undefined;
  readonly parallel?: boolean | undefined;
  readonly retry?: unknown;
  readonly redact?: unknown;
}

/**
 * Appends the creation of one task to the run's stream: `log.written` for an `io.logger` record (a noop named "log"),
 * else `task.created` with `status`. `startedAt` (ISO) is the endpoint's start of a task it started itself.
 */
function appendTaskCreation(
  uow: UnitOfWork,
  runId: string,
  taskId: string,
  task: NewTask,
  depth: number,
  status: "RUNNING" | "COMPLETED" | "WAITING",
  delayUntil: Date | null,
  metadata: EventMetadata,
  startedAt?: string,
): void {
  const current = uow.state.runs.get(runId)!;
  const isLog = task.noop === true && task.name === "log" && status === "COMPLETED";
  uow.append(
    runId,
    current.version,
    [
      isLog
        ? {
            type: "log.written",
            data: {
              taskId,
              idempotencyKey: task.idempotencyKey,
              parentId: task.parentId ?? null,
              depth,
              level: task.properties?.find((p) => p.label === "Level")?.text ?? task.style?.variant?.toUpperCase() ?? "INFO",
              message: task.description ?? "",
              data: task.params as never,
              style: task.style,
            },
          }
        : {
            type: "task.created",
            data: {
              taskId,
              idempotencyKey: task.idempotencyKey,
              parentId: task.parentId ?? null,
              depth,
              name: task.name ?? "Task",
              displayKey: task.displayKey ?? null,
              icon: task.icon ?? null,
              description: task.description ?? null,
              params: task.params as never,
              properties: task.properties as never,
              style: task.style ?? { style: "normal" },
              noop: task.noop ?? false,
              operation: null,
              parallel: task.parallel ?? false,
              status,
              delayUntil: delayUntil ? delayUntil.toISOString() : null,
              retry: task.retry as never,
              redact: task.redact as never,
              ...(startedAt ? { startedAt } : {}),
            },
          },
    ],
    metadata,
  );
}

/** Depth of a new task under `parent` (1 at top level). @throws ApiError 422 beyond {@link MAX_TASK_DEPTH}. */
function depthUnder(parent: TaskRow | undefined, key: string): number {
  const depth = parent ? parent.depth + 1 : 1;
  if (depth > MAX_TASK_DEPTH) {
    throw new ApiError("validation_failed", `task "${key}" would be nested ${depth} levels deep; the limit is ${MAX_TASK_DEPTH}`, [
      { path: "parentId", message: `nesting limit ${MAX_TASK_DEPTH}` },
    ]);
  }
  return depth;
}

/**
 * Applies Baton protocol 2's `startedTasks` (tasks the endpoint started itself) to a unit of work holding the run and
 * its tasks with those keys and parents: each unknown key becomes a new task (RUNNING, or COMPLETED for a noop) with
 * the endpoint's id and start time (clamped to now). A key the run already has keeps its task (idempotent, as v2's
 * create): the reported id then maps to the existing one in the returned alias map, which completions must use.
 * @throws ApiError 422 for an unknown parent, nesting deeper than 5, or an id already used by another task of the run.
 */
export function applyStartedTasks(
  uow: UnitOfWork,
  run: RunRow,
  started: readonly BatonStartedTask[] | undefined,
  metadata: EventMetadata,
): Map<string, string> {
  const alias = new Map<string, string>();
  if (!started?.length) return alias;
  const byKey = new Map<string, TaskRow>();
  for (const t of uow.state.tasks.values()) if (t.run_id === run.id) byKey.set(t.idempotency_key, t);
  const now = uow.now;
  for (const s of started) {
    const existing = byKey.get(s.idempotencyKey);
    if (existing) {
      alias.set(s.id, existing.id);
      continue;
    }
    if (uow.state.tasks.has(s.id)) {
      throw new ApiError("validation_failed", `startedTasks: task id ${s.id} is already used by another task of run ${run.id}`, [{ path: "startedTasks.id", message: "duplicate id" }]);
    }
    const parentId = s.parentId ? (alias.get(s.parentId) ?? s.parentId) : null;
    const parent = parentId ? uow.state.tasks.get(parentId) : undefined;
    if (parentId && (!parent || parent.run_id !== run.id)) {
      throw new ApiError("validation_failed", `startedTasks: parentId ${s.parentId} of task "${s.displayKey ?? s.idempotencyKey}" is not a task of run ${run.id}`, [
        { path: "startedTasks.parentId", message: "unknown task" },
      ]);
    }
    const depth = depthUnder(parent, s.displayKey ?? s.idempotencyKey);
    const startedAt = s.startedAt.getTime() < now.getTime() ? s.startedAt : now;
    appendTaskCreation(uow, run.id, s.id, Object.assign({}, s, { parentId }), depth, s.noop ? "COMPLETED" : "RUNNING", null, metadata, startedAt.toISOString());
    const row = uow.state.tasks.get(s.id);
    if (row) byKey.set(row.idempotency_key, row);
  }
  return alias;
}

/** A run and those of its tasks a task-API call names (by idempotency key or id). */
interface TaskContext {
  run: RunRow | undefined;
  tasks: TaskRow[];
}

/**
 * Task keys and ids a message's Baton reports name: started tasks' keys, and the ids of parents and completed tasks
 * that are not started in this same message (those are new by design).
 */
function reportRefs(reports: TaskReportBody, parentId?: string): { keys: string[]; ids: string[] } {
  const keys: string[] = [];
  const startedIds = new Set<string>();
  const ids: string[] = [];
  for (const s of reports.startedTasks ?? []) {
    keys.push(s.idempotencyKey);
    if (s.parentId && !startedIds.has(s.parentId)) ids.push(s.parentId);
    startedIds.add(s.id);
  }
  for (const c of reports.completedTasks ?? []) if (!startedIds.has(c.id)) ids.push(c.id);
  // the parent of a task created along with the reports
  if (parentId && !startedIds.has(parentId)) ids.push(parentId);
  return { keys, ids };
}

/**
 * The run and the tasks with the given idempotency keys or ids: from the run cache when this process executes the run
 * (a key the cache lacks is new: a task made through another process then conflicts on insert and the retry reads),
 * else one read. A run another process holds gets its staged claim committed by that process first
 * ({@link requestStagedClaim}); `holderAsked` is the holder already asked (asked once per call).
 */
async function loadTaskContext(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  keys: readonly string[],
  ids: readonly string[],
  holderAsked?: string,
): Promise<TaskContext> {
  // an execution of this process whose claim is still staged: the claim goes first
  await commitStagedClaim(ctx, runId);
  const cached = ctx.runCache.get(runId);
  // an id the cache does not know may be a task created through another process: then read afresh
  if (cached && cached.run.environment_id === env.id && cached.run.status === "EXECUTING" && ids.every((id) => cached.tasks.has(id))) {
    const tasks = new Map<string, TaskRow>();
    for (const key of keys) {
      const id = cached.byKey.get(key);
      const t = id ? cached.tasks.get(id) : undefined;
      if (t) tasks.set(t.id, t);
    }
    for (const id of ids) tasks.set(id, cached.tasks.get(id)!);
    return { run: cached.run, tasks: [...tasks.values()] };
  }
  const { rows } = await ctx.pool.query<{ run: Record<string, unknown> | null; tasks: Record<string, unknown>[] }>(
    `select
       (select row_to_json(r) from baton.runs r where r.id = $1 and r.environment_id = $2) as run,
       (select coalesce(json_agg(t), '[]') from baton.tasks t
         where t.run_id = $1 and (t.idempotency_key = any($3::text[]) or t.id = any($4::text[]))) as tasks`,
    [runId, env.id, keys, ids],
  );
  const row = rows[0]!;
  const run = row.run ? reviveDates<RunRow>(row.run, RUN_DATES) : undefined;
  // held by another process, which may be executing it under a staged claim: that process commits it, then read again
  if (holderAsked === undefined && run?.status === "QUEUED" && run.queued_worker_id && run.queued_worker_id !== ctx.workerId) {
    if (await requestStagedClaim(ctx, runId, run.queued_worker_id)) return loadTaskContext(ctx, env, runId, keys, ids, run.queued_worker_id);
  }
  return { run, tasks: row.tasks.map((t) => reviveDates<TaskRow>(t, TASK_DATES)) };
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
 * Applies a message's Baton reports (started tasks first, then completions) to a unit of work.
 * @throws ApiError as {@link applyStartedTasks} and {@link applyCompletions}.
 */
export function applyTaskReports(ctx: CommandContext, uow: UnitOfWork, run: RunRow, reports: TaskReportBody, metadata: EventMetadata): void {
  const alias = applyStartedTasks(uow, run, reports.startedTasks, metadata);
  applyCompletions(ctx, uow, run, reports.completedTasks, metadata, alias);
}

/**
 * A canceled run's reports: tasks the endpoint started before it heard of the cancel did run, so they are recorded
 * (audit keeps them) and canceled at once, in one commit; completions are ignored, as for every task of a canceled run.
 */
async function recordOnCanceledRun(ctx: CommandContext, run: RunRow, tasks: readonly TaskRow[], reports: TaskReportBody, metadata: EventMetadata): Promise<void> {
  if (!reports.startedTasks?.length) return;
  const uow = new UnitOfWork(stateWithRun(run, tasks));
  const before = new Set(uow.state.tasks.keys());
  applyStartedTasks(uow, run, reports.startedTasks, metadata);
  for (const t of [...uow.state.tasks.values()]) {
    if (before.has(t.id) || t.status !== "RUNNING") continue;
    uow.append(run.id, uow.state.runs.get(run.id)!.version, [{ type: "task.canceled", data: { taskId: t.id } }], metadata);
  }
  if (!uow.isEmpty) await uow.commit(ctx.pool);
}

/**
 * `POST /api/v1/runs/:runId/tasks`: creates a task, idempotent on (run, idempotency key) also under concurrent
 * duplicates (an existing task is returned as it is). Applies Baton's piggybacked `startedTasks` and `completedTasks`
 * first, in the same transaction: one commit per request. Initial status as v2: WAITING when `delayUntil` is in the
 * future, COMPLETED for a noop (waits due now, logs), else RUNNING. On a canceled run the task comes back CANCELED and
 * nothing is stored.
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
  const refs = reportRefs(body, body.parentId);
  refs.keys.push(idempotencyKey);
  return await retryOnConflict(async () => {
    const tc = await loadTaskContext(ctx, env, runId, refs.keys, refs.ids);
    const run = tc.run;
    if (!run) throw notFound(`run ${runId}`);
    if (run.status === "CANCELED") {
      await recordOnCanceledRun(ctx, run, tc.tasks, body, metadata);
      return canceledTask(body, idempotencyKey);
    }
    const uow = new UnitOfWork(stateWithRun(run, tc.tasks));
    const existing = tc.tasks.find((t) => t.idempotency_key === idempotencyKey);
    if (run.status !== "EXECUTING" && (!existing || body.startedTasks?.length)) {
      throw conflict(`run ${runId} is ${run.status}; tasks can only be created while it is EXECUTING`);
    }
    const alias = applyStartedTasks(uow, run, body.startedTasks, metadata);
    applyCompletions(ctx, uow, run, body.completedTasks, metadata, alias);
    if (existing) {
      if (!uow.isEmpty) await commitRunWrite(ctx, uow, run.id);
      return toServerTask(uow.state.tasks.get(existing.id) ?? existing);
    }
    const parentId = body.parentId ? (alias.get(body.parentId) ?? body.parentId) : undefined;
    const parent = parentId ? uow.state.tasks.get(parentId) : undefined;
    if (parentId && (!parent || parent.run_id !== run.id)) {
      throw new ApiError("validation_failed", `parentId ${body.parentId} is not a task of run ${runId}`, [{ path: "parentId", message: "unknown task" }]);
    }
    const depth = depthUnder(parent, body.displayKey ?? idempotencyKey);
    const now = uow.now;
    const delayed = body.delayUntil !== undefined && body.delayUntil.getTime() > now.getTime();
    const status = delayed ? "WAITING" : body.noop ? "COMPLETED" : "RUNNING";
    const taskId = newId("task");
    appendTaskCreation(uow, run.id, taskId, { ...body, parentId: parentId ?? null }, depth, status, body.delayUntil ?? null, metadata);
    await commitRunWrite(ctx, uow, run.id);
    return toServerTask(uow.state.tasks.get(taskId)!);
  }, undefined, () => ctx.runCache.delete(runId));
}

/**
 * `POST /api/v1/runs/:runId/tasks/report` (Baton protocol 2): applies task starts and completions the endpoint flushed
 * on their own, in one commit. Started tasks need the run EXECUTING; completions are taken while the run is not
 * canceled (a task body may finish after its execution answered). On a canceled run nothing is stored and the answer
 * says so, which makes the endpoint stop the execution at its next task; tasks it started meanwhile are recorded as
 * started and canceled at once.
 * @throws ApiError 404 unknown run, 409 tasks started while the run is not executing, 422/413 as
 *   {@link applyTaskReports}.
 */
export async function reportTasks(
  ctx: CommandContext,
  env: Environment,
  runId: string,
  body: TaskReportBody,
  metadata: EventMetadata,
): Promise<TaskReportResult> {
  const refs = reportRefs(body);
  return await retryOnConflict(async () => {
    const tc = await loadTaskContext(ctx, env, runId, refs.keys, refs.ids);
    const run = tc.run;
    if (!run) throw notFound(`run ${runId}`);
    if (run.status === "CANCELED") {
      await recordOnCanceledRun(ctx, run, tc.tasks, body, metadata);
      return { runStatus: run.status };
    }
    if (run.status !== "EXECUTING" && body.startedTasks?.length) {
      throw conflict(`run ${runId} is ${run.status}; tasks can only be started while it is EXECUTING`);
    }
    const uow = new UnitOfWork(stateWithRun(run, tc.tasks));
    applyTaskReports(ctx, uow, run, body, metadata);
    if (!uow.isEmpty) await commitRunWrite(ctx, uow, run.id);
    return { runStatus: uow.state.runs.get(run.id)!.status };
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
  const tc = await loadTaskContext(ctx, env, runId, [], [taskId]);
  if (!tc.run) throw notFound(`run ${runId}`);
  const task = tc.tasks[0];
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
