import type { EventMetadata, InvokeJobBody } from "@baton/core";
import { ApiError, notFound } from "../errors";
import { UnitOfWork } from "../event-store/store";
import { newId } from "../ids";
import type { Environment } from "../keys";
import { emptyProjectionState } from "../projections/reducers";
import type { EventRecordRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { createRun, receiveEvent } from "./ingest";
import { loadJob } from "./load";

/**
 * `POST /api/v1/jobs/:jobId/invoke`: starts a run of an `invokeTrigger` job with `{payload, context}`. The
 * `Idempotency-Key` becomes the synthetic event's id (name `"invoke"`, as v2), so a repeated key returns the first
 * run instead of starting another.
 * @returns the run id.
 * @throws ApiError 404 unknown job, 409 when the job is disabled or not an invoke job.
 */
export async function invokeJob(
  ctx: CommandContext,
  env: Environment,
  jobSlug: string,
  body: InvokeJobBody,
  idempotencyKey: string | undefined,
  metadata: EventMetadata,
): Promise<{ id: string }> {
  return await retryOnConflict(async () => {
    const job = await loadJob(ctx.pool, env.id, jobSlug);
    if (!job) throw notFound(`job ${jobSlug}`);
    if ((job.trigger as { type?: string }).type !== "invoke") throw new ApiError("conflict", `job ${jobSlug} is not triggered by invoke (its trigger is ${(job.trigger as { type?: string }).type})`);
    if (!job.enabled) throw new ApiError("conflict", `job ${jobSlug} is disabled`);
    const eventId = idempotencyKey ?? newId("evt").slice(4);
    if (idempotencyKey) {
      const { rows } = await ctx.pool.query<EventRecordRow>("select * from baton.event_records where environment_id = $1 and event_id = $2", [env.id, eventId]);
      const prior = rows[0];
      if (prior) {
        const first = prior.run_ids[0];
        if (!first) throw new ApiError("conflict", `Idempotency-Key ${idempotencyKey} was already used for an event that started no run`);
        return { id: first };
      }
    }
    const uow = new UnitOfWork(emptyProjectionState());
    const record = receiveEvent(
      uow,
      { environmentId: env.id, eventId, name: "invoke", payload: body.payload, context: body.context, internal: true },
      metadata,
    );
    const runId = createRun(ctx, uow, job, record, metadata);
    uow.append(record.id, 1, [{ type: "event.delivered", data: { runIds: [runId] } }], metadata);
    await uow.commit(ctx.pool);
    return { id: runId };
  });
}
