import { z } from "zod";

/** Server settings, parsed once from the environment (SPEC §9). Sizes in bytes, times in ms unless named otherwise. */
export const ServerConfig = z.object({
  /** HTTP port (`PORT`), default 3030; 0 = any free port. */
  port: z.coerce.number().int().min(0).max(65535).default(3030),
  /** Interface to bind (`HOST`), default 127.0.0.1. */
  host: z.string().default("127.0.0.1"),
  /** pino level (`LOG_LEVEL`). */
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Dev environment key (`BATON_API_KEY`), shape `tr_dev_…`; generated on first start when unset. */
  devApiKey: z.string().regex(/^tr_dev_[a-zA-Z0-9]+$/, "BATON_API_KEY must look like tr_dev_<letters and digits>").optional(),
  /** Prod environment key (`BATON_PROD_API_KEY`), shape `tr_prod_…`. */
  prodApiKey: z.string().regex(/^tr_prod_[a-zA-Z0-9]+$/, "BATON_PROD_API_KEY must look like tr_prod_<letters and digits>").optional(),
  /** Secret that encrypts stored API keys (`BATON_SECRET`); default: generated into `.baton/secret`. */
  secret: z.string().min(16).optional(),
  /** Largest accepted event (`BATON_MAX_EVENT_BYTES`), default 512 KiB. */
  maxEventBytes: z.coerce.number().int().positive().default(512 * 1024),
  /** Largest task output (`BATON_MAX_OUTPUT_BYTES`), default 3 MiB (as v2). */
  maxOutputBytes: z.coerce.number().int().positive().default(3 * 1024 * 1024),
  /** Largest request body of any route (`BATON_MAX_BODY_BYTES`), default 10 MiB. */
  maxBodyBytes: z.coerce.number().int().positive().default(10 * 1024 * 1024),
  /**
   * Most events in one `POST /api/v1/events/bulk` (`BATON_MAX_BULK_EVENTS`), default 5,000: a bulk request is one
   * transaction. v2 has no limit; beyond this one the request is refused whole (422 naming `events`).
   */
  maxBulkEvents: z.coerce.number().int().positive().default(5_000),
  /** Concurrent graphile-worker jobs per process (`BATON_WORKER_CONCURRENCY`). */
  workerConcurrency: z.coerce.number().int().positive().default(32),
  /** Per-execution time budget sent to the SDK (`BATON_RUN_CHUNK_MS`), default 60 s − 350 ms as v2. */
  runChunkExecutionLimitMs: z.coerce.number().int().positive().default(60_000 - 350),
  /** Total HTTP execution time per run before TIMED_OUT (`BATON_MAX_EXECUTION_MS`), default 15 min as v2. */
  maxExecutionTimePerRunMs: z.coerce.number().int().positive().default(900_000),
  /**
   * In-process tries of an execution that failed on the server's side, e.g. Postgres unreachable
   * (`BATON_LOCAL_RETRIES`), default 25 (500 ms × 2^n apart, at most 30 s: ~11 min in all). After them the run is
   * handed to the outbox, where graphile-worker's attempts and backoff take over.
   */
  localRetryAttempts: z.coerce.number().int().min(0).default(25),
  /** Run the dispatcher in this process (`BATON_DISPATCHER` = "false" for an API-only process). */
  dispatcher: z
    .string()
    .optional()
    .transform((v) => v !== "false" && v !== "0"),
});
export type ServerConfig = z.infer<typeof ServerConfig>;

/** Reads `ServerConfig` from `process.env`. @throws an error listing every invalid variable. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = ServerConfig.safeParse({
    port: env.PORT || undefined,
    host: env.HOST || undefined,
    logLevel: env.LOG_LEVEL || undefined,
    devApiKey: env.BATON_API_KEY || undefined,
    prodApiKey: env.BATON_PROD_API_KEY || undefined,
    secret: env.BATON_SECRET || undefined,
    maxEventBytes: env.BATON_MAX_EVENT_BYTES || undefined,
    maxOutputBytes: env.BATON_MAX_OUTPUT_BYTES || undefined,
    maxBodyBytes: env.BATON_MAX_BODY_BYTES || undefined,
    maxBulkEvents: env.BATON_MAX_BULK_EVENTS || undefined,
    workerConcurrency: env.BATON_WORKER_CONCURRENCY || undefined,
    runChunkExecutionLimitMs: env.BATON_RUN_CHUNK_MS || undefined,
    maxExecutionTimePerRunMs: env.BATON_MAX_EXECUTION_MS || undefined,
    localRetryAttempts: env.BATON_LOCAL_RETRIES || undefined,
    dispatcher: env.BATON_DISPATCHER || undefined,
  });
  if (!parsed.success) {
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}
