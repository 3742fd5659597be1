import { exponentialBackoff, standardBackoff } from "@baton/core";

/** Retry presets as v2's `retry` export (reference §2.6). */
export const retry = { standardBackoff, exponentialBackoff } as const;
