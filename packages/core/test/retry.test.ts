import { describe, expect, it } from "vitest";
import {
  calculateRetryAt,
  DEFAULT_RETRY_OPTIONS,
  exponentialBackoff,
  RetryOptions,
  resolveRetryOptions,
  standardBackoff,
} from "../src/index";

const NOW = Date.UTC(2024, 0, 1);

/** Delay in ms after the n-th failure (1-based), as the SDK asks: attempts = task.attempts - 1 = n - 1. */
function delayAfterFailure(options: RetryOptions, failure: number, random = () => 0.5): number | undefined {
  const at = calculateRetryAt(options, failure - 1, NOW, random);
  return at === undefined ? undefined : at.getTime() - NOW;
}

/** How many attempts a task gets in total when every attempt fails. */
function totalAttempts(options: RetryOptions): number {
  let attempts = 1;
  while (calculateRetryAt(options, attempts - 1, NOW) !== undefined) attempts++;
  return attempts;
}

describe("calculateRetryAt", () => {
  it("limit 1 means one attempt: no retry after the first failure", () => {
    expect(delayAfterFailure({ limit: 1 }, 1)).toBeUndefined();
    expect(totalAttempts({ limit: 1 })).toBe(1);
  });

  it("limit 4 means four attempts in total", () => {
    expect(totalAttempts({ limit: 4 })).toBe(4);
    expect(delayAfterFailure({ limit: 4 }, 3)).toBeDefined();
    expect(delayAfterFailure({ limit: 4 }, 4)).toBeUndefined();
  });

  it("without a limit the default of 5 attempts applies", () => {
    expect(totalAttempts({})).toBe(5);
    expect(totalAttempts({ limit: undefined })).toBe(5);
  });

  it("delays after failures 1, 2, 3, 4 are min, min, min·factor, min·factor² without randomization", () => {
    const options = { limit: 10, factor: 2, minTimeoutInMs: 1000, maxTimeoutInMs: 60_000, randomize: false };
    expect(delayAfterFailure(options, 1)).toBe(1000);
    expect(delayAfterFailure(options, 2)).toBe(1000);
    expect(delayAfterFailure(options, 3)).toBe(2000);
    expect(delayAfterFailure(options, 4)).toBe(4000);
  });

  it("randomize multiplies the delay by 1 + random(), rounded to the ms", () => {
    const options = { limit: 10, factor: 2, minTimeoutInMs: 1000, randomize: true };
    expect(delayAfterFailure(options, 1, () => 0)).toBe(1000);
    expect(delayAfterFailure(options, 1, () => 0.5)).toBe(1500);
    expect(delayAfterFailure(options, 3, () => 0.25)).toBe(2500);
    expect(delayAfterFailure(options, 1, () => 0.12345)).toBe(1123);
  });

  it("the delay is clamped to maxTimeoutInMs", () => {
    const options = { limit: 20, factor: 10, minTimeoutInMs: 1000, maxTimeoutInMs: 5000, randomize: false };
    expect(delayAfterFailure(options, 3)).toBe(5000);
    expect(delayAfterFailure(options, 10)).toBe(5000);
  });

  it("a minTimeoutInMs below 1 ms counts as 1 ms", () => {
    expect(delayAfterFailure({ limit: 3, minTimeoutInMs: 0, randomize: false }, 1)).toBe(1);
  });

  it("returns a Date relative to `now`, given as a Date or as epoch ms", () => {
    const options = { limit: 3, randomize: false };
    expect(calculateRetryAt(options, 0, new Date(NOW))?.toISOString()).toBe(new Date(NOW + 1000).toISOString());
    expect(calculateRetryAt(options, 0, NOW)?.getTime()).toBe(NOW + 1000);
  });

  it("defaults to v2's options: limit 5, factor 1.8, 1 s to 60 s, randomized", () => {
    expect(DEFAULT_RETRY_OPTIONS).toEqual({ limit: 5, factor: 1.8, minTimeoutInMs: 1000, maxTimeoutInMs: 60_000, randomize: true });
    expect(delayAfterFailure({}, 3, () => 0)).toBe(1800);
  });

  it("ships v2's presets", () => {
    expect(standardBackoff).toEqual({ limit: 8, factor: 1.8, minTimeoutInMs: 500, maxTimeoutInMs: 30_000, randomize: true });
    expect(exponentialBackoff).toEqual({ limit: 8, factor: 2, minTimeoutInMs: 1000, maxTimeoutInMs: 30_000, randomize: true });
  });
});

describe("RetryOptions", () => {
  it("parses what the v2 SDK sends and fills nothing in", () => {
    expect(RetryOptions.parse({ limit: 3, minTimeoutInMs: 1000, factor: 2, randomize: false })).toEqual({
      limit: 3,
      minTimeoutInMs: 1000,
      factor: 2,
      randomize: false,
    });
  });

  it("resolveRetryOptions fills missing fields from the defaults", () => {
    expect(resolveRetryOptions({ limit: 2 })).toEqual({ ...DEFAULT_RETRY_OPTIONS, limit: 2 });
    expect(resolveRetryOptions(undefined)).toEqual(DEFAULT_RETRY_OPTIONS);
  });
});
