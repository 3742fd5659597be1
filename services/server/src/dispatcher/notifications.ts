/**
 * Postgres notifications between server processes, on one listening connection per process:
 * - {@link RUN_CANCELED_CHANNEL}: cancel is final (SPEC §7): when a run is canceled while an endpoint executes it, the
 *   server hangs up that execution's `EXECUTE_JOB` request, and the SDK stops at its next task. The process executing
 *   the run may not be the one that canceled it, so a cancel also sends a notification.
 * - {@link JOBS_CHANGED_CHANNEL}: indexing changed an environment's jobs; each process drops its cached jobs of it.
 * - {@link CLAIM_WANTED_CHANNEL}: a task-API call reached a process other than the one executing the run, whose claim
 *   is still staged there (see `requestStagedClaim`); the holder commits it.
 */
import type pg from "pg";
import type { CommandContext } from "../commands/context";
import { JOBS_CHANGED_CHANNEL } from "../commands/run-cache";
import { CLAIM_WANTED_CHANNEL, commitStagedClaim } from "../commands/staged-claims";

export { JOBS_CHANGED_CHANNEL } from "../commands/run-cache";

/** Notification channel of run cancels; the payload is the run id. */
export const RUN_CANCELED_CHANNEL = "baton_run_canceled";

/** Hangs up this process's in-flight execution of `runId`, if any. */
export function abortExecution(ctx: CommandContext, runId: string): void {
  ctx.executionAborts.get(runId)?.abort();
}

/**
 * Tells every server process that `runId` was canceled (after the cancel committed): each hangs up its execution.
 * Best effort: an execution that misses it stops when its next task report gets the CANCELED answer.
 */
export async function announceCancel(ctx: CommandContext, runId: string): Promise<void> {
  abortExecution(ctx, runId);
  try {
    await ctx.pool.query("select pg_notify($1, $2)", [RUN_CANCELED_CHANNEL, runId]);
  } catch (error) {
    ctx.log.warn({ err: error, runId }, "cancel notification failed; the execution stops at its next task report");
  }
}

/**
 * Listens on {@link RUN_CANCELED_CHANNEL}, {@link JOBS_CHANGED_CHANNEL} and {@link CLAIM_WANTED_CHANNEL} with one
 * connection taken from the pool for the process's lifetime: hangs up the executions of canceled runs, invalidates
 * cached jobs, and commits the staged claims other processes ask for. The jobs cache
 * serves only while this connection listens. Reconnects after 1 s when the connection breaks.
 * @returns stop(): unlisten and give the connection back.
 */
export async function listenForNotifications(ctx: CommandContext): Promise<{ stop(): Promise<void> }> {
  let stopped = false;
  let client: pg.PoolClient | undefined;
  let retry: NodeJS.Timeout | undefined;
  const onNotification = (message: pg.Notification): void => {
    if (message.channel === RUN_CANCELED_CHANNEL && message.payload) abortExecution(ctx, message.payload);
    else if (message.channel === JOBS_CHANGED_CHANNEL) ctx.jobsCache?.invalidate(message.payload || undefined);
    else if (message.channel === CLAIM_WANTED_CHANNEL && message.payload) {
      // a failed commit means the run changed meanwhile (canceled, recovered): the asking process reads it as it is
      commitStagedClaim(ctx, message.payload).catch(() => undefined);
    }
  };
  const connect = async (): Promise<void> => {
    const c = await ctx.pool.connect();
    c.on("notification", onNotification);
    c.once("error", (error) => {
      ctx.log.warn({ err: error }, "notification listener connection lost; reconnecting");
      // notifications may be missed until it is back: the jobs cache serves nothing meanwhile
      ctx.jobsCache?.setListening(false);
      c.release(error);
      if (client === c) client = undefined;
      scheduleReconnect();
    });
    await c.query(`listen ${RUN_CANCELED_CHANNEL}; listen ${JOBS_CHANGED_CHANNEL}; listen ${CLAIM_WANTED_CHANNEL}`);
    client = c;
    ctx.jobsCache?.setListening(true);
  };
  const scheduleReconnect = (): void => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().catch((error: unknown) => {
        ctx.log.warn({ err: error }, "notification listener could not reconnect");
        scheduleReconnect();
      });
    }, 1000);
    retry.unref();
  };
  await connect();
  return {
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      ctx.jobsCache?.setListening(false);
      const c = client;
      client = undefined;
      if (!c) return;
      c.off("notification", onNotification);
      await c.query("unlisten *").catch(() => undefined);
      c.release();
    },
  };
}
