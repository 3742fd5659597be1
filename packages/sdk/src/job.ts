/**
 * `client.defineJob(...)` returns a {@link Job}: its metadata for INDEX_ENDPOINT and `job.invoke`.
 */
import type { ApiClient } from "./api-client";
import { BatonError } from "./errors";
import { runScope, type LogLevel } from "./execution";
import type { AnyIntegration, IOWithIntegrations } from "./integrations";
import { IO, type IntegrationBinder, type TaskKey } from "./io";
import { isValidJobVersion, type JobMetadata } from "@baton/core";
import type { Trigger, TriggerPayload } from "./triggers/types";

/** `ctx`, the third argument of `run` (v2 `TriggerContext`, reference §2.7, with `isRetry`/`startedAt` fixed). */
export interface TriggerContext {
  readonly job: { readonly id: string; readonly version: string };
  readonly environment: { readonly slug: string; readonly id: string; readonly type: string };
  readonly organization: { readonly slug: string; readonly id: string; readonly title: string };
  readonly project: { readonly slug: string; readonly id: string; readonly name: string };
  /** `startedAt`: when the run started (from the server), not this execution; `isRetry`: as the server says. */
  readonly run: { readonly id: string; readonly isTest: boolean; readonly startedAt: Date; readonly isRetry: boolean };
  readonly event: { readonly id: string; readonly name: string; readonly context: unknown; readonly timestamp: Date };
  readonly source?: { readonly id: string; readonly metadata?: unknown };
  readonly account?: { readonly id: string; readonly metadata?: unknown };
}

/** A concurrency group shared by several jobs (v2 `ConcurrencyLimit`). */
export interface ConcurrencyLimitOptions {
  readonly id: string;
  readonly limit: number;
}

/** Options of `client.defineJob` (v2 §2.2). */
export interface JobOptions<
  TTrigger extends Trigger<any>,
  TIntegrations extends Record<string, AnyIntegration> = Record<string, never>,
  TOutput = unknown,
> {
  /** Stable id (slug); a new id is a new job. */
  readonly id: string;
  /** Display name. */
  readonly name: string;
  /** `x.y.z` (digits only). @throws BatonError `JOB_VERSION_INVALID` otherwise. */
  readonly version: string;
  readonly trigger: TTrigger;
  /** Exposed as `io.<key>` (see `defineIntegration`). */
  readonly integrations?: TIntegrations;
  /** Default true. */
  readonly enabled?: boolean;
  /** A number = limit for this job; `{id, limit}` = a group shared across jobs. Counts executing runs only. */
  readonly concurrencyLimit?: number | ConcurrencyLimitOptions;
  /** Gate of `io.logger`; default the client's `logLevel`, then `"info"`. */
  readonly logLevel?: LogLevel;
  /** The job body, replayed from the top on every execution. Its return value is the run output. */
  readonly run: (
    payload: TriggerPayload<TTrigger>,
    io: IOWithIntegrations<TIntegrations>,
    ctx: TriggerContext,
  ) => Promise<TOutput>;
}

/** Options of {@link Job.invoke}. */
export interface InvokeOptions {
  /** Becomes `ctx.event.context`. */
  readonly context?: unknown;
  readonly accountId?: string;
  /** Outside a run: sent as `Idempotency-Key` (inside a run the task's idempotency key is used). */
  readonly idempotencyKey?: string;
  readonly callbackUrl?: string;
}

/** What the server answers to an invoke: at least the run id. */
export interface InvokedRun {
  readonly id: string;
  readonly [key: string]: unknown;
}

/** A defined job. */
export class Job<
  TTrigger extends Trigger<any> = Trigger<any>,
  TIntegrations extends Record<string, AnyIntegration> = Record<string, AnyIntegration>,
  TOutput = unknown,
> {
  readonly options: JobOptions<TTrigger, TIntegrations, TOutput>;
  readonly #api: () => ApiClient;
  /** @internal Binders of the job's integrations, by io key. */
  readonly integrationBinders: Readonly<Record<string, IntegrationBinder>>;

  /** @internal Use `client.defineJob`. */
  constructor(options: JobOptions<TTrigger, TIntegrations, TOutput>, api: () => ApiClient) {
    if (typeof options.id !== "string" || options.id.length === 0) {
      throw new BatonError("CONFIG_INVALID", "defineJob: `id` must be a non-empty string");
    }
    if (typeof options.version !== "string" || !isValidJobVersion(options.version)) {
      throw new BatonError(
        "JOB_VERSION_INVALID",
        `Invalid job version "${String(options.version)}" for job "${options.id}": expected x.y.z with digits only, e.g. "1.0.0"`,
      );
    }
    const limit = options.concurrencyLimit;
    if (limit !== undefined) {
      const value = typeof limit === "number" ? limit : limit.limit;
      if (!Number.isInteger(value) || value < 1) {
        throw new BatonError("CONFIG_INVALID", `defineJob "${options.id}": concurrencyLimit must be a positive integer, got ${String(value)}`);
      }
    }
    this.options = options;
    this.#api = api;
    const binders: Record<string, IntegrationBinder> = {};
    for (const [key, integration] of Object.entries(options.integrations ?? {})) binders[key] = integration.bind;
    this.integrationBinders = binders;
  }

  get id(): string {
    return this.options.id;
  }

  get version(): string {
    return this.options.version;
  }

  get enabled(): boolean {
    return this.options.enabled ?? true;
  }

  /** The v2 `JobMetadata` of INDEX_ENDPOINT. */
  toJSON(): JobMetadata {
    const { options } = this;
    const integrations: JobMetadata["integrations"] = {};
    for (const [key, integration] of Object.entries(options.integrations ?? {})) {
      integrations[key] = { id: integration.id, metadata: { id: integration.id, name: integration.name }, authSource: "LOCAL" };
    }
    const limit = options.concurrencyLimit;
    return {
      id: options.id,
      name: options.name,
      version: options.version,
      event: options.trigger.event,
      trigger: options.trigger.toJSON(),
      integrations,
      internal: false,
      enabled: this.enabled,
      startPosition: "initial",
      preprocessRuns: false,
      ...(limit === undefined ? {} : { concurrencyLimit: typeof limit === "number" ? limit : { id: limit.id, limit: limit.limit } }),
    };
  }

  /**
   * Starts a run of this (invokeTrigger) job: `POST /api/v1/jobs/:id/invoke`.
   * - Outside a run: `job.invoke(payload, options?)`.
   * - Inside a run: `job.invoke(cacheKey, payload, options?)`, a task whose idempotency key is sent as
   *   `Idempotency-Key`, so a replay never starts a second run.
   * @throws BatonError `INVOKE_OUTSIDE_RUN` when called inside a run without a cache key
   */
  invoke(payload: TriggerPayload<TTrigger>, options?: InvokeOptions): Promise<InvokedRun>;
  invoke(cacheKey: TaskKey, payload: TriggerPayload<TTrigger>, options?: InvokeOptions): Promise<InvokedRun>;
  async invoke(...args: unknown[]): Promise<InvokedRun> {
    const scope = runScope.getStore();
    const api = this.#api();
    if (!scope) {
      const [payload, options] = args as [unknown, InvokeOptions | undefined];
      return api.invokeJob(this.id, invokeBody(payload, options), options?.idempotencyKey);
    }
    if (args.length < 2) {
      throw new BatonError("INVOKE_OUTSIDE_RUN", `job.invoke inside a run needs a cache key: job.invoke(cacheKey, payload, options?) (job "${this.id}")`);
    }
    const [cacheKey, payload, options] = args as [TaskKey, unknown, InvokeOptions | undefined];
    const io = new IO(scope.execution, scope.frame ?? "scope");
    return io.runTask(cacheKey, async (task) => api.invokeJob(this.id, invokeBody(payload, options), task.idempotencyKey), {
      name: `Invoke ${this.id}`,
      icon: "trigger",
      params: payload,
      properties: [{ label: "Job", text: this.id }],
    });
  }
}

function invokeBody(payload: unknown, options: InvokeOptions | undefined) {
  const extra: { accountId?: string; callbackUrl?: string } = {};
  if (options?.accountId) extra.accountId = options.accountId;
  if (options?.callbackUrl) extra.callbackUrl = options.callbackUrl;
  return {
    payload,
    ...(options?.context !== undefined ? { context: options.context } : {}),
    ...(Object.keys(extra).length > 0 ? { options: extra } : {}),
  };
}
