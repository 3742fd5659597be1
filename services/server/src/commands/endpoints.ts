import { compareSemver, HEADERS, IndexEndpointResponse, isValidJobVersion, type EventMetadata, type JobMetadata } from "@baton/core";
import { ApiError } from "../errors";
import { callEndpoint } from "../endpoint-client";
import { UnitOfWork } from "../event-store/store";
import { newId } from "../ids";
import type { Environment } from "../keys";
import { emptyProjectionState } from "../projections/reducers";
import type { EndpointRow, JobRow } from "../projections/rows";
import { retryOnConflict, type CommandContext } from "./context";
import { JOBS_CHANGED_CHANNEL } from "./run-cache";
import { enqueueSlot, nextSlot, scheduleHash, scheduleJobKey, scheduleOf } from "./schedules";

/** How long an endpoint may take to answer `INDEX_ENDPOINT` (ms). */
const INDEX_TIMEOUT_MS = 30_000;

export interface IndexResult {
  readonly endpoint: EndpointRow;
  readonly jobs: ReadonlyArray<{ id: string; version: string }>;
}

/**
 * `POST /api/v1/endpoints {id, url}`: registers (or re-points) the endpoint and indexes it at once (`INDEX_ENDPOINT`).
 * Indexing upserts each job's current version (`latest_version` by semantic-version order), disables this endpoint's
 * jobs that are no longer listed, and reconciles schedules so a changed or removed cron/interval trigger stops firing.
 * Events, projections and schedule jobs commit together.
 * @throws ApiError 422 when the endpoint cannot be reached or answers something that is not an index (the failure
 *   is recorded as `endpoint.index_failed`).
 */
export async function registerEndpoint(
  ctx: CommandContext,
  env: Environment,
  slug: string,
  url: string,
  metadata: EventMetadata,
): Promise<IndexResult> {
  const endpoint = await retryOnConflict(async () => {
    const { rows } = await ctx.pool.query<EndpointRow>("select * from baton.endpoints where environment_id = $1 and slug = $2", [env.id, slug]);
    const existing = rows[0];
    if (existing && existing.url === url) return existing;
    const uow = new UnitOfWork(emptyProjectionState());
    const id = existing?.id ?? newId("ep");
    if (existing) uow.state.endpoints.set(id, existing);
    uow.append(id, existing?.version ?? 0, [{ type: "endpoint.registered", data: { endpointId: id, environmentId: env.id, slug, url } }], metadata);
    await uow.commit(ctx.pool);
    return uow.state.endpoints.get(id)!;
  });
  return await indexEndpoint(ctx, env, endpoint.id, metadata);
}

/** Re-indexes a registered endpoint (`POST /api/v1/endpoints/:id/index`). See {@link registerEndpoint}. */
export async function indexEndpoint(ctx: CommandContext, env: Environment, endpointId: string, metadata: EventMetadata): Promise<IndexResult> {
  const { rows } = await ctx.pool.query<EndpointRow>("select * from baton.endpoints where id = $1 and environment_id = $2", [endpointId, env.id]);
  const endpoint = rows[0];
  if (!endpoint) throw new ApiError("not_found", `endpoint ${endpointId} not found`);
  const reply = await callEndpoint(endpoint.url, env.apiKey, "INDEX_ENDPOINT", undefined, { timeoutMs: INDEX_TIMEOUT_MS });
  let failure: string | undefined;
  let index: IndexEndpointResponse | undefined;
  if (!reply.ok) failure = reply.error.message;
  else if (reply.status !== 200) failure = `endpoint answered HTTP ${reply.status}: ${reply.text.slice(0, 300)}`;
  else {
    const parsed = IndexEndpointResponse.safeParse(reply.body);
    if (!parsed.success) failure = `endpoint answered an invalid index: ${parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    else {
      const badVersions = parsed.data.jobs.filter((j) => !isValidJobVersion(j.version));
      if (badVersions.length) failure = `job versions must look like 1.2.3: ${badVersions.map((j) => `${j.id} has "${j.version}"`).join(", ")}`;
      else index = parsed.data;
    }
  }
  if (failure || !index) {
    await retryOnConflict(async () => {
      const current = (await ctx.pool.query<EndpointRow>("select * from baton.endpoints where id = $1", [endpointId])).rows[0]!;
      const uow = new UnitOfWork(emptyProjectionState());
      uow.state.endpoints.set(current.id, current);
      uow.append(current.id, current.version, [{ type: "endpoint.index_failed", data: { error: failure ?? "unknown" } }], metadata);
      await uow.commit(ctx.pool);
    });
    throw new ApiError("validation_failed", `endpoint ${endpoint.slug} at ${endpoint.url} could not be indexed: ${failure}`);
  }
  const batonProtocol = Number(reply.ok ? reply.headers.get(HEADERS.batonProtocol) : NaN);
  const triggerVersion = reply.ok ? reply.headers.get(HEADERS.apiVersion) : null;
  const sdkVersion = reply.ok ? reply.headers.get(HEADERS.sdkVersion) : null;
  const jobsMeta = index.jobs;
  return await retryOnConflict(async () => {
    const current = (await ctx.pool.query<EndpointRow>("select * from baton.endpoints where id = $1", [endpointId])).rows[0]!;
    const { rows: jobRows } = await ctx.pool.query<JobRow>("select * from baton.jobs where environment_id = $1", [env.id]);
    const uow = new UnitOfWork(emptyProjectionState());
    uow.state.endpoints.set(current.id, current);
    const jobs = new Map(jobRows.map((j) => [j.slug, j]));
    for (const j of jobRows) uow.state.jobs.set(`${j.environment_id}|${j.slug}`, j);
    const listed = new Set<string>();
    for (const meta of jobsMeta) {
      listed.add(meta.id);
      indexJob(ctx, uow, env, current, jobs.get(meta.id), meta, metadata);
    }
    for (const job of jobRows) {
      if (job.endpoint_id !== current.id || listed.has(job.slug) || !job.enabled) continue;
      uow.append(`job:${env.id}:${job.slug}`, job.version, [{ type: "job.disabled", data: { reason: `no longer listed by endpoint ${current.slug}` } }], metadata);
      if (scheduleOf(job)) uow.dequeue(scheduleJobKey(env.id, job.slug));
    }
    uow.append(
      current.id,
      current.version,
      [
        {
          type: "endpoint.indexed",
          data: {
            jobCount: jobsMeta.length,
            triggerVersion,
            sdkVersion,
            batonProtocol: Number.isInteger(batonProtocol) && batonProtocol > 0 ? batonProtocol : null,
          },
        },
      ],
      metadata,
    );
    // every server process drops its cached jobs of this environment (ingest reads them again)
    uow.notify(JOBS_CHANGED_CHANNEL, env.id);
    uow.afterCommit(() => ctx.jobsCache?.invalidate(env.id));
    await uow.commit(ctx.pool);
    ctx.endpointCache.set(uow.state.endpoints.get(current.id)!);
    return { endpoint: uow.state.endpoints.get(current.id)!, jobs: jobsMeta.map((j) => ({ id: j.id, version: j.version })) };
  });
}

function indexJob(
  ctx: CommandContext,
  uow: UnitOfWork,
  env: Environment,
  endpoint: EndpointRow,
  existing: JobRow | undefined,
  meta: JobMetadata,
  metadata: EventMetadata,
): void {
  const limit = meta.concurrencyLimit;
  const data = {
    environmentId: env.id,
    slug: meta.id,
    name: meta.name,
    jobVersion: meta.version,
    endpointId: endpoint.id,
    trigger: meta.trigger,
    event: meta.event,
    enabled: meta.enabled,
    internal: meta.internal ?? false,
    concurrencyLimit: limit === undefined ? null : typeof limit === "number" ? limit : limit.limit,
    concurrencyGroup: limit === undefined || typeof limit === "number" ? null : limit.id,
    integrations: meta.integrations ?? {},
    metadata: meta,
  };
  const unchanged =
    existing &&
    existing.current_version === meta.version &&
    existing.endpoint_id === endpoint.id &&
    existing.enabled === meta.enabled &&
    existing.name === meta.name &&
    JSON.stringify(existing.trigger) === JSON.stringify(meta.trigger) &&
    existing.concurrency_limit === data.concurrencyLimit &&
    existing.concurrency_group === data.concurrencyGroup;
  if (!unchanged) {
    if (existing && compareSemver(meta.version, existing.latest_version) < 0) {
      ctx.log.info({ job: meta.id, version: meta.version, latest: existing.latest_version }, "endpoint serves an older job version than seen before");
    }
    uow.append(`job:${env.id}:${meta.id}`, existing?.version ?? 0, [{ type: "job.indexed", data }], metadata);
  }
  const job = uow.state.jobs.get(`${env.id}|${meta.id}`)!;
  const schedule = scheduleOf(job);
  const previous = existing ? scheduleOf(existing) : undefined;
  if (schedule && job.enabled) {
    const same = previous !== undefined && existing?.enabled === true && scheduleHash(previous) === scheduleHash(schedule);
    enqueueSlot(ctx, uow, job, nextSlot(schedule, uow.now), same);
  } else if (previous) {
    uow.dequeue(scheduleJobKey(env.id, meta.id));
  }
}
