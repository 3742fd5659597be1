import type { BatonEventBody, EventMetadata } from "@baton/core";
import { UnitOfWork } from "../event-store/store";
import { emptyProjectionState } from "../projections/reducers";
import type { RunRow, TaskRow } from "../projections/rows";
import type { CommandContext } from "./context";

/**
 * The claim (`run.started`) of a run this process held in its in-memory dispatch queue, staged instead of committed:
 * the execution starts at once and the claim is committed with the run's next write, the execution's answer (one
 * commit per execution instead of two), or the first task-API write of the execution, whichever comes first.
 *
 * Safe because nobody else acts on a held run while this process lives: the store still shows it QUEUED on this
 * worker (`queued_worker_id`), so a cancel or a recovery by another process appends at the same version, and
 * whichever commit comes second conflicts (the claim's commit then sees the run as it is now and drops the answer).
 * If this process dies, recovery queues the run again, as any held run; its tasks run again (at-least-once).
 */
export interface StagedClaim {
  /** the run as the store has it (QUEUED, held by this worker) */
  readonly run: RunRow;
  readonly tasks: readonly TaskRow[];
  /** the `run.started` event */
  readonly event: BatonEventBody;
  readonly metadata: EventMetadata;
  /** when the execution started (the event's time) */
  readonly claimedAt: Date;
  /** the commit that carries the claim, once one began (it settles when that commit has) */
  committing?: Promise<void>;
}

/**
 * A unit of work on the run of `staged` that writes the staged claim first: its state holds the claimed run.
 * @returns the unit of work and the claimed run row (EXECUTING on this worker).
 */
export function unitOfWorkWithClaim(staged: StagedClaim, now?: Date): { uow: UnitOfWork; run: RunRow } {
  const uow = new UnitOfWork(emptyProjectionState(), now);
  uow.state.runs.set(staged.run.id, staged.run);
  for (const t of staged.tasks) uow.state.tasks.set(t.id, t);
  uow.append(staged.run.id, staged.run.version, [staged.event], staged.metadata, staged.claimedAt);
  return { uow, run: uow.state.runs.get(staged.run.id)! };
}

/**
 * Commits `uow` (made by {@link unitOfWorkWithClaim} from `staged`) as the commit that carries the staged claim:
 * task-API writes of the run that arrive meanwhile wait for it ({@link commitStagedClaim}). Either way the claim is
 * no longer staged afterwards; a failed commit also drops the cached run, so the next write reads the run as it is.
 * @throws what the commit throws (e.g. an AppendConflictError when the run was canceled or recovered meanwhile).
 */
export async function commitCarryingClaim(ctx: CommandContext, staged: StagedClaim, uow: UnitOfWork): Promise<void> {
  const runId = staged.run.id;
  const committing = uow.commit(ctx.pool).then(() => undefined);
  staged.committing = committing.catch(() => ctx.runCache.delete(runId));
  try {
    await committing;
  } finally {
    if (ctx.stagedClaims?.get(runId) === staged) ctx.stagedClaims.delete(runId);
  }
}

/**
 * Makes sure a staged claim of `runId` is in the store before a write that reads the run: commits it on its own, or
 * waits for the commit already carrying it. Does nothing for a run without one. A claim that lost its race (the run
 * was canceled or recovered meanwhile) is dropped with the cached run, so the caller reads the run as it is.
 */
export async function commitStagedClaim(ctx: CommandContext, runId: string): Promise<void> {
  const staged = ctx.stagedClaims?.get(runId);
  if (!staged) return;
  if (!staged.committing) {
    const { uow, run } = unitOfWorkWithClaim(staged, staged.claimedAt);
    uow.afterCommit(() => ctx.runCache.set(run, staged.tasks));
    commitCarryingClaim(ctx, staged, uow).catch(() => undefined); // its failure is the caller's fresh read
  }
  await staged.committing;
}

/** Notification channel by which a process asks the holder of a run's staged claim to commit it; payload: run id. */
export const CLAIM_WANTED_CHANNEL = "baton_claim_wanted";

/** How long {@link requestStagedClaim} waits for the holder (ms). */
const CLAIM_WANTED_WAIT_MS = 2000;

/**
 * For a task-API write that reached this process while `runId` is held by another process (`QUEUED`, its
 * `queued_worker_id` set): that process may be executing the run under a staged claim, which only it can commit (it
 * holds the claim's execution in memory). Asks it to ({@link CLAIM_WANTED_CHANNEL}), then waits until the run is no
 * longer held by `holderId`, reading it every 5-50 ms for at most 2 s. Several server processes behind one address
 * need this: the endpoint's calls of an execution can reach any of them.
 * @returns true when the run changed (read it again), false when it is still held after 2 s (the holder is not
 *   executing it, or is gone and recovery will queue it again).
 * @throws what Postgres throws (e.g. unreachable).
 */
export async function requestStagedClaim(ctx: CommandContext, runId: string, holderId: string): Promise<boolean> {
  await ctx.pool.query("select pg_notify($1, $2)", [CLAIM_WANTED_CHANNEL, runId]);
  const deadline = Date.now() + CLAIM_WANTED_WAIT_MS;
  for (let pauseMs = 5; Date.now() < deadline; pauseMs = Math.min(pauseMs * 2, 50)) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const { rows } = await ctx.pool.query<{ held: boolean }>(
      "select (status = 'QUEUED' and queued_worker_id = $2) as held from baton.runs where id = $1",
      [runId, holderId],
    );
    if (!rows[0]?.held) return true;
  }
  return false;
}
