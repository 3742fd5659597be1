import { announceCancel } from "../dispatcher/notifications";
import type { EventMetadata } from "@baton/core";
import { conflict, notFound } from "../errors";
import { UnitOfWork } from "../event-store/store";
import type { Environment } from "../keys";
import { emptyProjectionState } from "../projections/reducers";
import { TERMINAL_RUN_STATUSES, type RunRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { createRun, receiveEvent } from "./ingest";
import { scheduleExecution } from "./scheduling";
import { loadEventRecord, loadJob, loadRun, loadTasks, stateWithRun } from "./load";

/**
 * `POST /api/v1/runs/:runId/cancel`: the run becomes CANCELED and its open tasks CANCELED, its pending execution job
 * is removed, all in one commit. Final: a wait or retry that comes due, a redelivered job, or an execution in flight
 * finds the run terminal and changes nothing. Canceling a canceled run returns it unchanged.
 * @throws ApiError 404 unknown run, 409 when the run already ended otherwise.
 */
export async function cancelRun(ctx: CommandContext, env: Environment, runId: string, metadata: EventMetadata): Promise<RunRow> {
  return await retryOnConflict(async () => {
    const run = await loadRun(ctx.pool, runId, env.id);
    if (!run) throw notFound(`run ${runId}`);
    if (run.status === "CANCELED") return run;
    if (TERMINAL_RUN_STATUSES.has(run.status)) throw conflict(`run ${runId} already ended with status ${run.status}; it cannot be canceled`);
    const tasks = await loadTasks(ctx.pool, runId);
    const uow = new UnitOfWork(stateWithRun(run, tasks));
    const open = tasks.filter((t) => t.status === "PENDING" || t.status === "WAITING" || t.status === "RUNNING");
    uow.append(runId, run.version, [...open.map((t) => ({ type: "task.canceled" as const, data: { taskId: t.id } })), { type: "run.canceled", data: {} }], metadata);
    uow.dequeue(`run:${runId}`);
    await uow.commit(ctx.pool);
    ctx.runCache.delete(runId);
    // a run held by a process's in-memory queue may be executing under a claim that process has not committed yet
    if (run.status === "EXECUTING" || run.queued_worker_id !== null) await announceCancel(ctx, runId);
    return uow.state.runs.get(runId)!;
  });
}

/** Statuses from which `continue` may restart a run (v2's ContinueRunService, minus INVALID_PAYLOAD: see below). */
const CONTINUABLE = new Set(["FAILURE", "TIMED_OUT", "CANCELED"]);

/**
 * `POST /api/v1/runs/:runId/continue` ("retry job run" in v2): the run goes back to QUEUED; COMPLETED tasks stay cached,
 * ERRORED and CANCELED tasks are reset so their bodies run again. An INVALID_PAYLOAD run is refused with 409: its
 * event's payload cannot change, so it would fail the same way; send a corrected event instead.
 * @throws ApiError 404 unknown run, 409 when the run is not in a continuable status.
 */
export async function continueRun(ctx: CommandContext, env: Environment, runId: string, metadata: EventMetadata): Promise<RunRow> {
  return await retryOnConflict(async () => {
    const run = await loadRun(ctx.pool, runId, env.id);
    if (!run) throw notFound(`run ${runId}`);
    if (run.status === "INVALID_PAYLOAD") {
      throw conflict(
        `run ${runId} ended INVALID_PAYLOAD: its event's payload does not match the job's schema and cannot change, so continuing would fail again; send a corrected event instead`,
        { status: run.status },
      );
    }
    if (!CONTINUABLE.has(run.status)) {
      throw conflict(`run ${runId} is ${run.status}; only FAILURE, TIMED_OUT or CANCELED runs can be continued`, { status: run.status });
    }
    const tasks = await loadTasks(ctx.pool, runId);
    const uow = new UnitOfWork(stateWithRun(run, tasks));
    const reset = tasks.filter((t) => t.status === "ERRORED" || t.status === "CANCELED");
    uow.append(runId, run.version, [...reset.map((t) => ({ type: "task.reset" as const, data: { taskId: t.id } })), { type: "run.continued", data: {} }], metadata);
    scheduleExecution(ctx, uow, runId, null);
    await uow.commit(ctx.pool);
    return uow.state.runs.get(runId)!;
  });
}

/**
 * `POST /api/v1/runs/:runId/rerun` ("run again" in v2): a new event record `<event id>:retry:<ms>` with the same
 * payload, context and source, and a new run of the same job on the same job version. Nothing is cached.
 * @throws ApiError 404 unknown run or when its job no longer exists.
 */
export async function rerunRun(ctx: CommandContext, env: Environment, runId: string, metadata: EventMetadata): Promise<RunRow> {
  const run = await loadRun(ctx.pool, runId, env.id);
  if (!run) throw notFound(`run ${runId}`);
  const [record, job] = await Promise.all([loadEventRecord(ctx.pool, run.event_record_id), loadJob(ctx.pool, env.id, run.job_slug)]);
  if (!record) throw notFound(`event of run ${runId}`);
  if (!job) throw notFound(`job ${run.job_slug}`);
  const uow = new UnitOfWork(emptyProjectionState());
  const fresh = receiveEvent(
    uow,
    {
      environmentId: env.id,
      eventId: `${record.event_id}:retry:${uow.now.getTime()}`,
      name: record.name,
      source: record.source,
      payload: record.payload,
      context: record.context,
      payloadType: record.payload_type,
      isTest: record.is_test,
      internal: true,
    },
    metadata,
  );
  const recordId = fresh.id;
  const newRunId = createRun(ctx, uow, { ...job, endpoint_id: run.endpoint_id }, fresh, metadata, { jobVersion: run.job_version, rerunOf: runId });
  uow.append(recordId, uow.state.event_records.get(recordId)!.version, [{ type: "event.delivered", data: { runIds: [newRunId] } }], metadata);
  await uow.commit(ctx.pool);
  return uow.state.runs.get(newRunId)!;
}
