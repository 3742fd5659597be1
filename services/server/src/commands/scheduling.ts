import type { UnitOfWork } from "../event-store/store";
import type { CommandContext, SuspendedRun } from "./context";
import { TASKS } from "./tasks-names";

/**
 * How late the outbox job of an in-process dispatch is due (ms). The run is executed right after the commit in this
 * process; the job is only the durable fallback for a crash in between, and the claim removes it.
 */
export const DIRECT_DISPATCH_FALLBACK_MS = 3_000;

/** graphile priorities (lower runs first): resumptions of started runs go before first executions, as v2. */
export const PRIORITY = { initial: 0, resume: -1 } as const;

/**
 * Schedules an execution of a run in the outbox (`baton.execute_run`, job key `run:<id>`), in the same unit of work
 * as the events that call for it. Due now and this process runs a dispatcher: executed in-process right after the
 * commit, with the job due a little later as the fallback. Due later: the job is due at `at`, and a local timer
 * executes the run at that moment (precise waits; graphile's poll is the fallback).
 *
 * `suspendedState`: `uow` holds the run with every one of its tasks (as the execution that suspends it loaded them),
 * so after the commit the run's suspended state is known without a read (see `dispatchAt`).
 */
export function scheduleExecution(
  ctx: CommandContext,
  uow: UnitOfWork,
  runId: string,
  at: Date | null,
  priority: number = PRIORITY.initial,
  options: { suspendedState?: boolean } = {},
): void {
  const due = at && at.getTime() > uow.now.getTime() ? at : null;
  if (!due && ctx.dispatchNow) {
    uow.enqueue({ task: TASKS.executeRun, payload: { runId }, jobKey: `run:${runId}`, runAt: new Date(uow.now.getTime() + DIRECT_DISPATCH_FALLBACK_MS), priority });
    const dispatch = ctx.dispatchNow;
    uow.afterCommit(() => dispatch(runId));
    return;
  }
  uow.enqueue({ task: TASKS.executeRun, payload: { runId }, jobKey: `run:${runId}`, runAt: due, priority });
  if (due && ctx.dispatchAt) {
    const dispatchAt = ctx.dispatchAt;
    uow.afterCommit(() => dispatchAt(runId, due, options.suspendedState ? suspendedRun(uow, runId) : undefined));
  }
}

/** The run as `uow` committed it, when that left it suspended on a wait, with its WAITING tasks. */
function suspendedRun(uow: UnitOfWork, runId: string): SuspendedRun | undefined {
  const run = uow.state.runs.get(runId);
  if (run?.status !== "WAITING_TO_CONTINUE") return undefined;
  const tasks = [];
  for (const t of uow.state.tasks.values()) if (t.run_id === runId && t.status === "WAITING") tasks.push(t);
  return { run, tasks };
}
