import { Hono } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CommandContext } from "../commands/context";
import { RUN_STATUSES } from "../projections/rows";

/** Most events read from the store per scrape; the rest are read by the next scrape. */
const EVENTS_PER_SCRAPE = 10_000;

/** Seconds buckets of the latency histograms: 5 ms to 15 min. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** The events that end an execution and carry its `executionDurationMs`. */
const EXECUTION_ENDS = [
  "run.waiting",
  "run.yielded",
  "run.execution_failed",
  "run.succeeded",
  "run.failed",
  "run.timed_out",
  "run.invalid_payload",
] as const;

/** The events that end a task attempt (as the `audit.task_attempts` view counts them). */
const ATTEMPT_OUTCOMES: Readonly<Record<string, string>> = {
  "task.completed": "COMPLETED",
  "task.failed": "ERRORED",
  "task.retry_scheduled": "RETRY_SCHEDULED",
  "task.canceled": "CANCELED",
};

/** Prometheus metrics of one server process, each in its own registry (several servers may share a process). */
export interface Metrics {
  readonly registry: Registry;
  /** Reads the events this process caused since the last scrape and the current gauges. */
  collect(): Promise<void>;
}

/**
 * Metrics built from the event store. Gauges (runs by status, queue depth, failing outbox jobs) are the whole
 * cluster's, read at scrape time; the execution histograms and dispatcher errors count only what this process's
 * worker did (events whose actor is this worker id), so summing several processes' scrapes counts every execution
 * once; task attempts are the cluster's (their completions come through any process's API).
 */
export function createMetrics(ctx: CommandContext): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: ctx.workerId });
  const runs = new Gauge({ name: "baton_runs", help: "Runs by status (all environments)", labelNames: ["status"], registers: [registry] });
  const queueDepth = new Gauge({
    name: "baton_queue_depth",
    help: "Outbox jobs (graphile-worker) due now and not locked by a worker",
    labelNames: ["task"],
    registers: [registry],
  });
  const queueScheduled = new Gauge({ name: "baton_queue_scheduled", help: "Outbox jobs scheduled in the future (waits, retries, delayed events)", registers: [registry] });
  const failingJobs = new Gauge({
    name: "baton_queue_failing_jobs",
    help: "Outbox jobs whose last attempt threw (graphile-worker last_error set)",
    registers: [registry],
  });
  const execution = new Histogram({
    name: "baton_execution_duration_seconds",
    help: "Duration of one execution of a run (one EXECUTE_JOB request), by how it ended",
    labelNames: ["outcome"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const startLatency = new Histogram({
    name: "baton_event_to_start_seconds",
    help: "Time from a run's creation (its event delivered) to its first execution start",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const attempts = new Counter({
    name: "baton_task_attempts_total",
    // task completions arrive through any process's API, so this one is not per worker
    help: "Finished task attempts of the whole cluster since this process started, by outcome (aggregate processes with max, not sum)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const dispatcherErrors = new Counter({
    name: "baton_dispatcher_errors_total",
    help: "Dispatcher errors: endpoint transport failures (run.execution_failed) and runs timed out",
    labelNames: ["kind"],
    registers: [registry],
  });
  for (const status of RUN_STATUSES) runs.set({ status }, 0);
  for (const outcome of Object.values(ATTEMPT_OUTCOMES)) attempts.inc({ outcome }, 0);
  dispatcherErrors.inc({ kind: "execution_failed" }, 0);
  dispatcherErrors.inc({ kind: "timed_out" }, 0);

  // events before this process started were not caused by its worker id: start at the current end of the store
  // (read on the next tick: creating the routes touches no dependency)
  let checkpoint: Promise<string> = Promise.resolve()
    .then(() => ctx.pool.query<{ p: string }>("select coalesce(max(position), 0)::text as p from baton.events"))
    .then(
      (r) => r.rows[0]?.p ?? "0",
      () => "0",
    );

  async function readEvents(): Promise<void> {
    const after = await checkpoint;
    const { rows: top } = await ctx.pool.query<{ p: string }>("select coalesce(max(position), 0)::text as p from baton.events");
    const end = top[0]?.p ?? after;
    const { rows } = await ctx.pool.query<{ position: string; type: string; data: Record<string, unknown>; start_seconds: number | null }>(
      `select e.position::text as position, e.type, e.data,
         case when e.type = 'run.started' and not exists (
                select 1 from baton.events p where p.stream_id = e.stream_id and p.type = 'run.started' and p.position < e.position)
              then extract(epoch from e.occurred_at - c.occurred_at) end as start_seconds
       from baton.events e
       left join baton.events c on c.stream_id = e.stream_id and c.version = 1 and e.type = 'run.started'
       where e.position > $1::bigint and e.position <= $2::bigint
         and (e.metadata->'actor'->>'id' = $3 or (e.type = 'run.started' and e.data->>'workerId' = $3)
              or e.type = any($5::text[]))
         and (e.type like 'run.%' or e.type like 'task.%')
       order by e.position limit $4`,
      [after, end, ctx.workerId, EVENTS_PER_SCRAPE, [...Object.keys(ATTEMPT_OUTCOMES), "task.resumed"]],
    );
    for (const row of rows) {
      if ((EXECUTION_ENDS as readonly string[]).includes(row.type) && typeof row.data.executionDurationMs === "number") {
        execution.observe({ outcome: row.type.slice("run.".length) }, row.data.executionDurationMs / 1000);
      }
      if (row.type === "run.started" && row.start_seconds !== null) startLatency.observe(Number(row.start_seconds));
      const outcome = ATTEMPT_OUTCOMES[row.type];
      if (outcome) attempts.inc({ outcome });
      if (outcome === undefined && row.type === "task.resumed" && row.data.status === "COMPLETED") attempts.inc({ outcome: "COMPLETED" });
      if (row.type === "run.execution_failed") dispatcherErrors.inc({ kind: "execution_failed" });
      if (row.type === "run.timed_out") dispatcherErrors.inc({ kind: "timed_out" });
    }
    // a full page stops at its last row; otherwise everything up to `end` was read
    checkpoint = Promise.resolve(rows.length === EVENTS_PER_SCRAPE ? rows[rows.length - 1]!.position : end);
  }

  async function readGauges(): Promise<void> {
    const [{ rows: byStatus }, { rows: queue }] = await Promise.all([
      ctx.pool.query<{ status: string; n: string }>("select status, count(*)::text as n from baton.runs group by status"),
      ctx.pool.query<{ task: string | null; due: string; scheduled: string; failing: string }>(
        `select t.identifier as task,
           count(*) filter (where j.run_at <= now() and j.locked_at is null and j.attempts < j.max_attempts)::text as due,
           count(*) filter (where j.run_at > now())::text as scheduled,
           count(*) filter (where j.last_error is not null)::text as failing
         from graphile_worker._private_jobs j left join graphile_worker._private_tasks t on t.id = j.task_id
         group by t.identifier`,
      ),
    ]);
    for (const status of RUN_STATUSES) runs.set({ status }, 0);
    for (const r of byStatus) runs.set({ status: r.status }, Number(r.n));
    queueDepth.reset();
    let scheduled = 0;
    let failing = 0;
    for (const q of queue) {
      queueDepth.set({ task: q.task ?? "unknown" }, Number(q.due));
      scheduled += Number(q.scheduled);
      failing += Number(q.failing);
    }
    queueScheduled.set(scheduled);
    failingJobs.set(failing);
  }

  let collecting: Promise<void> | undefined;
  return {
    registry,
    collect() {
      // concurrent scrapes share one read so no event is counted twice
      collecting ??= Promise.all([readEvents(), readGauges()]).then(
        () => void (collecting = undefined),
        (error: unknown) => {
          collecting = undefined;
          throw error;
        },
      );
      return collecting;
    },
  };
}

/** `GET /metrics`: Prometheus text, unauthenticated like `/healthz`. */
export function createMetricsRoutes(ctx: CommandContext): Hono {
  const metrics = createMetrics(ctx);
  const app = new Hono();
  app.get("/metrics", async (c) => {
    await metrics.collect();
    c.header("content-type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  return app;
}
