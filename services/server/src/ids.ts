import { newPrefixedId } from "@baton/core";

/**
 * Time-ordered ids with a type prefix: `run_01j…`, `task_…`, `evt_…`, `ep_…`, `exec_…` — a ULID (48-bit ms time +
 * 80 random bits, Crockford base32, lowercase), monotonic within a process (core's {@link newPrefixedId}).
 */
export function newId(prefix: "run" | "task" | "evt" | "ep" | "exec" | "env" | "worker"): string {
  return newPrefixedId(prefix);
}
