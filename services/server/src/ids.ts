import { monotonicFactory } from "ulid";

const next = monotonicFactory();

/** Time-ordered ids with a type prefix: `run_01J…`, `task_…`, `evt_…`, `ep_…`, `exec_…`. */
export function newId(prefix: "run" | "task" | "evt" | "ep" | "exec" | "env" | "worker"): string {
  return `${prefix}_${next().toLowerCase()}`;
}
