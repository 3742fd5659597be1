import { z } from "zod";

/**
 * Retry options of a task (`io.runTask(key, cb, { retry })`), as Trigger.dev v2's `RetryOptionsSchema`.
 * Every field is optional; missing ones come from {@link DEFAULT_RETRY_OPTIONS}.
 *
 * - `limit`: maximum number of attempts in total, the first one included (`1` = never retry).
 * - `factor`: exponential growth of the delay between retries.
 * - `minTimeoutInMs` / `maxTimeoutInMs`: bounds of the delay, in milliseconds.
 * - `randomize`: multiply each delay by a random factor in [1, 2).
 */
export const RetryOptions = z.object({
  limit: z.number().optional(),
  factor: z.number().optional(),
  minTimeoutInMs: z.number().optional(),
  maxTimeoutInMs: z.number().optional(),
  randomize: z.boolean().optional(),
});
export type RetryOptions = z.infer<typeof RetryOptions>;

/** Fully specified retry options. */
export type ResolvedRetryOptions = Required<RetryOptions>;

/** v2's defaults: 5 attempts, factor 1.8, delays between 1 s and 60 s, randomized. */
export const DEFAULT_RETRY_OPTIONS: Readonly<ResolvedRetryOptions> = {
  limit: 5,
  factor: 1.8,
  minTimeoutInMs: 1000,
  maxTimeoutInMs: 60_000,
  randomize: true,
};

/** v2 SDK preset `retry.standardBackoff`: 8 attempts, factor 1.8, 0.5 s to 30 s, randomized. */
export const standardBackoff: Readonly<ResolvedRetryOptions> = {
  limit: 8,
  factor: 1.8,
  minTimeoutInMs: 500,
  maxTimeoutInMs: 30_000,
  randomize: true,
};

/** v2 SDK preset `retry.exponentialBackoff`: 8 attempts, factor 2, 1 s to 30 s, randomized. */
export const exponentialBackoff: Readonly<ResolvedRetryOptions> = {
  limit: 8,
  factor: 2,
  minTimeoutInMs: 1000,
  maxTimeoutInMs: 30_000,
  randomize: true,
};

/** Merges `options` over {@link DEFAULT_RETRY_OPTIONS}; a key that is present but `undefined` keeps the default. */
export function resolveRetryOptions(options: RetryOptions | undefined): ResolvedRetryOptions {
  const resolved: ResolvedRetryOptions = { ...DEFAULT_RETRY_OPTIONS };
  if (options?.limit !== undefined) resolved.limit = options.limit;
  if (options?.factor !== undefined) resolved.factor = options.factor;
  if (options?.minTimeoutInMs !== undefined) resolved.minTimeoutInMs = options.minTimeoutInMs;
  if (options?.maxTimeoutInMs !== undefined) resolved.maxTimeoutInMs = options.maxTimeoutInMs;
  if (options?.randomize !== undefined) resolved.randomize = options.randomize;
  return resolved;
}

/**
 * When to retry a task that just failed, as Trigger.dev v2's `calculateRetryAt` (core `retry.ts`), or
 * `undefined` when the attempt limit is reached.
 *
 * `attempts` is what the v2 SDK passes: `task.attempts - 1`, i.e. the zero-based index of the attempt
 * that just failed (0 after the first failure). A retry happens only while `attempts + 1 < limit`, so
 * `limit` counts all attempts (`limit: 1` = no retry, `limit: 4` = four attempts).
 *
 * Delay in ms = `min(round(r · max(minTimeoutInMs, 1) · factor^max(attempts - 1, 0)), maxTimeoutInMs)`
 * with `r = 1 + random()` when `randomize`, else 1. The first two retries therefore both wait about
 * `minTimeoutInMs`; the third waits `min·factor`, the fourth `min·factor²`, ...
 *
 * Differs from v2 only in that an option explicitly set to `undefined` keeps its default (v2's object
 * spread let it override the default with `undefined`, which disabled the limit).
 *
 * @param options retry options of the task (missing fields default to {@link DEFAULT_RETRY_OPTIONS})
 * @param attempts zero-based index of the failed attempt (`task.attempts - 1`)
 * @param now the current time (Date or epoch ms); defaults to `Date.now()`
 * @param random a source of numbers in [0, 1); defaults to `Math.random`
 * @returns the time of the next attempt, or `undefined` when no attempt is left
 */
export function calculateRetryAt(
  options: RetryOptions | undefined,
  attempts: number,
  now: Date | number = Date.now(),
  random: () => number = Math.random,
): Date | undefined {
  const resolved = resolveRetryOptions(options);
  const retryCount = attempts + 1;
  if (retryCount >= resolved.limit) return undefined;

  const multiplier = resolved.randomize ? random() + 1 : 1;
  const delayInMs = Math.round(
    multiplier * Math.max(resolved.minTimeoutInMs, 1) * Math.pow(resolved.factor, Math.max(attempts - 1, 0)),
  );
  const nowInMs = typeof now === "number" ? now : now.getTime();
  return new Date(nowInMs + Math.min(delayInMs, resolved.maxTimeoutInMs));
}
