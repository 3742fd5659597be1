/**
 * Protocol names the SDK needs. While `@baton/core` is being written this module defines them locally; names that
 * core exports are re-exported from it instead (see the report / README).
 */
import { z } from "zod";

export const RetryOptions = z.object({
  limit: z.number().int().nonnegative().optional(),
  factor: z.number().nonnegative().optional(),
  minTimeoutInMs: z.number().int().nonnegative().optional(),
  maxTimeoutInMs: z.number().int().nonnegative().optional(),
  randomize: z.boolean().optional(),
});
export type RetryOptions = z.infer<typeof RetryOptions>;

export const DEFAULT_RETRY_OPTIONS = {
  limit: 5,
  factor: 1.8,
  minTimeoutInMs: 1000,
  maxTimeoutInMs: 60000,
  randomize: true,
} as const;

/** v2 formula (reference §2.6): `attempts` = task.attempts - 1; undefined = no more retries. */
export function calculateRetryAt(retryOptions: RetryOptions, attempts: number): Date | undefined {
  const options = { ...DEFAULT_RETRY_OPTIONS, ...retryOptions };
  const retryCount = attempts + 1;
  if (retryCount >= options.limit) return undefined;
  const random = options.randomize ? Math.random() + 1 : 1;
  let timeoutInMs = Math.round(random * Math.max(options.minTimeoutInMs, 1) * Math.pow(options.factor, Math.max(attempts - 1, 0)));
  timeoutInMs = Math.min(timeoutInMs, options.maxTimeoutInMs);
  return new Date(Date.now() + timeoutInMs);
}

export type EventFilter = { [key: string]: unknown };

export function deepMergeFilters(...filters: Array<EventFilter | undefined>): EventFilter {
  const result: EventFilter = {};
  for (const filter of filters) {
    if (!filter) continue;
    for (const [key, value] of Object.entries(filter)) {
      const existing = result[key];
      if (isPlainObject(existing) && isPlainObject(value)) {
        result[key] = deepMergeFilters(existing, value);
      } else {
        result[key] = value;
      }
    }
  }
  return result;
}

function isPlainObject(value: unknown): value is EventFilter {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isValidJobVersion(version: string): boolean {
  return /^(\d+)\.(\d+)\.(\d+)$/.test(version);
}

const DateLike = z.coerce.date();

export const CachedTask = z.object({
  id: z.string(),
  idempotencyKey: z.string(),
  status: z.string(),
  noop: z.boolean().optional(),
  output: z.unknown().optional(),
  outputMeta: z.unknown().optional(),
  parentId: z.string().nullish(),
});
export type CachedTask = z.infer<typeof CachedTask>;

export const RunJobBody = z.object({
  event: z.object({
    id: z.string(),
    name: z.string(),
    payload: z.unknown().optional(),
    context: z.unknown().optional(),
    timestamp: DateLike,
    deliverAt: DateLike.nullish(),
    deliveredAt: DateLike.nullish(),
    cancelledAt: DateLike.nullish(),
  }),
  job: z.object({ id: z.string(), version: z.string() }),
  run: z.object({ id: z.string(), isTest: z.boolean(), isRetry: z.boolean().optional(), startedAt: DateLike }),
  environment: z.object({ id: z.string(), slug: z.string(), type: z.string() }),
  organization: z.object({ id: z.string(), title: z.string(), slug: z.string() }),
  project: z.object({ id: z.string(), name: z.string(), slug: z.string() }).optional(),
  account: z.object({ id: z.string(), metadata: z.unknown().optional() }).optional(),
  source: z.object({ id: z.string(), metadata: z.unknown().optional() }).optional(),
  connections: z.record(z.string(), z.unknown()).optional(),
  tasks: z.array(CachedTask).optional(),
  cachedTaskCursor: z.string().optional(),
  noopTasksSet: z.string().optional(),
  noopTaskKeys: z.array(z.string()).optional(),
  yieldedExecutions: z.array(z.string()).optional(),
  runChunkExecutionLimit: z.number().optional(),
  autoYieldConfig: z
    .object({
      startTaskThreshold: z.number(),
      beforeExecuteTaskThreshold: z.number(),
      beforeCompleteTaskThreshold: z.number(),
      afterCompleteTaskThreshold: z.number(),
    })
    .optional(),
  batonProtocol: z.number().optional(),
});
export type RunJobBody = z.infer<typeof RunJobBody>;

export const ServerTask = z.looseObject({
  id: z.string(),
  idempotencyKey: z.string(),
  status: z.enum(["PENDING", "WAITING", "RUNNING", "COMPLETED", "ERRORED", "CANCELED"]),
  name: z.string().optional(),
  attempts: z.number(),
  noop: z.boolean().optional(),
  output: z.unknown().optional(),
  outputMeta: z.unknown().optional(),
  error: z.string().nullish(),
  params: z.unknown().optional(),
  parentId: z.string().nullish(),
  delayUntil: DateLike.nullish(),
  callbackUrl: z.string().nullish(),
  operation: z.string().nullish(),
  forceYield: z.boolean().nullish(),
});
export type ServerTask = z.infer<typeof ServerTask>;

export interface CompletedTaskInput {
  id: string;
  output?: string;
  outputMeta?: unknown;
  properties?: unknown;
}

export type ErrorWire = { message: string; name?: string; stack?: string };

export type RunJobResponse = (
  | { status: "SUCCESS"; output?: unknown }
  | { status: "ERROR"; error: ErrorWire; task?: unknown }
  | { status: "RESUME_WITH_TASK"; task: unknown }
  | { status: "RETRY_WITH_TASK"; task: unknown; error: ErrorWire; retryAt: Date }
  | { status: "RESUME_WITH_PARALLEL_TASK"; task: unknown; childErrors: unknown[] }
  | { status: "CANCELED"; task: unknown }
  | { status: "YIELD_EXECUTION"; key: string }
  | { status: "AUTO_YIELD_EXECUTION"; location: string; timeRemaining: number; timeElapsed: number; limit?: number }
  | {
      status: "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK";
      id: string;
      properties?: unknown;
      output?: string;
      data: { location: string; timeRemaining: number; timeElapsed: number; limit?: number };
    }
  | { status: "INVALID_PAYLOAD"; errors: Array<{ path: string; message: string }> }
) & { completedTasks?: CompletedTaskInput[] };

export type EventSpecification = {
  name: string | string[];
  title: string;
  source: string;
  icon: string;
  filter?: EventFilter;
  properties?: Array<{ label: string; text: string; url?: string }>;
  schema?: unknown;
  examples?: unknown[];
};

export type TriggerMetadata =
  | { type: "static"; title: string | string[]; properties?: unknown[]; rule: { event: string | string[]; source: string; payload?: EventFilter; context?: EventFilter } }
  | { type: "scheduled"; schedule: { type: "cron"; options: { cron: string } } | { type: "interval"; options: { seconds: number } } }
  | { type: "invoke" };

export type JobMetadata = {
  id: string;
  name: string;
  version: string;
  event: EventSpecification;
  trigger: TriggerMetadata;
  integrations: Record<string, { id: string; metadata: { id: string; name: string; instructions?: string }; authSource: "HOSTED" | "LOCAL" | "RESOLVER" }>;
  internal: boolean;
  enabled: boolean;
  startPosition: "initial" | "latest";
  preprocessRuns: boolean;
  concurrencyLimit?: number | { id: string; limit: number };
};

export type IndexEndpointResponse = {
  jobs: JobMetadata[];
  sources: unknown[];
  webhooks?: unknown[];
  dynamicTriggers: unknown[];
  dynamicSchedules: unknown[];
  httpEndpoints?: unknown[];
};

export type ApiEventLog = {
  id: string;
  name: string;
  payload: unknown;
  context?: unknown;
  timestamp: Date | string;
  deliverAt?: Date | string | null;
  deliveredAt?: Date | string | null;
  cancelledAt?: Date | string | null;
};

export type SendEvent = {
  name: string;
  payload?: unknown;
  context?: unknown;
  id?: string;
  timestamp?: Date;
  source?: string;
};

export type SendEventOptions = { deliverAt?: Date; deliverAfter?: number; accountId?: string };

/** v2 SDK preset `retry.standardBackoff`. */
export const standardBackoff = { limit: 8, factor: 1.8, minTimeoutInMs: 500, maxTimeoutInMs: 30_000, randomize: true } as const;
/** v2 SDK preset `retry.exponentialBackoff`. */
export const exponentialBackoff = { limit: 8, factor: 2, minTimeoutInMs: 1000, maxTimeoutInMs: 30_000, randomize: true } as const;
