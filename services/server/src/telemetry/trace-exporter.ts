import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Span,
  type TracerProvider,
} from "@opentelemetry/api";
import type pg from "pg";
import type { Logger } from "pino";
import { primeIds } from "./ids";
import { buildRunTrace, type RunStreamEvent, type RunTrace } from "./run-trace";

/** The events after which a run is ended (its trace is complete). `run.continued` can reopen it: it is exported again. */
export const TERMINAL_RUN_EVENTS = ["run.succeeded", "run.failed", "run.timed_out", "run.canceled", "run.invalid_payload"] as const;

/** Name of this exporter's row in `baton.telemetry_checkpoints`. */
const CHECKPOINT = "otel-traces";
// Arbitrary constant: one process at a time advances the trace checkpoint (transaction-level advisory lock).
const LOCK_KEY = 7_402_901_114;

export interface TraceExporterOptions {
  readonly pool: pg.Pool;
  /** An OTel tracer provider (the SDK is configured by the entry point; ideally with `DeterministicIdGenerator`). */
  readonly tracerProvider: TracerProvider;
  readonly log: Logger;
  /** Poll interval, ms (default 1000). */
  readonly intervalMs?: number;
  /** Runs ended per poll, at most (default 100). */
  readonly batchSize?: number;
  /**
   * Ended runs younger than this are left for the next poll (ms, default 500): a transaction that took a lower
   * position may still be committing, and the checkpoint must not pass it.
   */
  readonly settleMs?: number;
}

/** The background trace exporter of one server process. */
export interface TraceExporter {
  /** Exports every run that ended since the checkpoint, now. @returns how many runs were exported. */
  poll(): Promise<number>;
  /** Stops polling and waits for a poll in progress. */
  stop(): Promise<void>;
}

/** Emits one built run trace through the OTel API (parents are started before their children). */
export function emitRunTrace(provider: TracerProvider, runTrace: RunTrace): void {
  const tracer = provider.getTracer("baton");
  const started = new Map<string, Span>();
  const rootContext: Context = runTrace.parent
    ? trace.setSpanContext(ROOT_CONTEXT, {
        traceId: runTrace.parent.traceId,
        spanId: runTrace.parent.spanId,
        traceFlags: runTrace.parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
        isRemote: true,
      })
    : ROOT_CONTEXT;
  for (const spec of runTrace.spans) {
    const parentSpan = spec.parentKey ? started.get(spec.parentKey) : undefined;
    const context = parentSpan ? trace.setSpan(ROOT_CONTEXT, parentSpan) : rootContext;
    primeIds(spec.spanId, spec.parentKey || runTrace.parent ? undefined : runTrace.traceId);
    const span = tracer.startSpan(spec.name, { kind: SpanKind.INTERNAL, startTime: spec.start, attributes: spec.attributes }, context);
    started.set(spec.key, span);
  }
  // end children first so every processor sees a finished tree in a natural order
  for (const spec of [...runTrace.spans].reverse()) {
    const span = started.get(spec.key)!;
    for (const ev of spec.events) span.addEvent(ev.name, ev.attributes, ev.time);
    if (spec.status.code !== "unset") {
      span.setStatus({
        code: spec.status.code === "ok" ? SpanStatusCode.OK : SpanStatusCode.ERROR,
        ...(spec.status.message ? { message: spec.status.message } : {}),
      });
    }
    span.end(spec.end < spec.start ? spec.start : spec.end);
  }
}

/** Loads a run's events up to a position, in order. */
export async function loadRunStream(db: Pick<pg.Pool, "query">, runId: string, upTo?: string): Promise<RunStreamEvent[]> {
  const { rows } = await db.query<{ position: string; type: string; data: unknown; metadata: unknown; occurred_at: Date }>(
    `select position::text as position, type, data, metadata, occurred_at from baton.events
     where stream_id = $1 and ($2::bigint is null or position <= $2::bigint) order by version`,
    [runId, upTo ?? null],
  );
  return rows.map((r) => ({ position: r.position, type: r.type, data: r.data, metadata: r.metadata ?? {}, occurredAt: r.occurred_at }) as RunStreamEvent);
}

/**
 * Tails `baton.events` from a checkpoint (`baton.telemetry_checkpoints`) and exports each run that ended as one trace
 * built from its whole event stream, so a run that waited for hours over many executions is still one trace. Safe
 * with several server processes: a transaction-level advisory lock lets one of them advance the checkpoint at a
 * time. Span ids derive from run and task ids, so a run exported again (after `continue`, or a crash between export
 * and checkpoint) has the same ids. The first start exports runs that end from then on.
 */
export function startTraceExporter(options: TraceExporterOptions): TraceExporter {
  const { pool, tracerProvider, log } = options;
  const intervalMs = options.intervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 100;
  const settleMs = options.settleMs ?? 500;
  let stopped = false;
  let current: Promise<number> = Promise.resolve(0);

  async function pollOnce(): Promise<number> {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const { rows: lock } = await client.query<{ ok: boolean }>("select pg_try_advisory_xact_lock($1) as ok", [LOCK_KEY]);
      if (!lock[0]?.ok) {
        await client.query("rollback");
        return 0;
      }
      await client.query(
        `insert into baton.telemetry_checkpoints (name, position)
         select $1, coalesce(max(position), 0) from baton.events
         on conflict (name) do nothing`,
        [CHECKPOINT],
      );
      const { rows: cp } = await client.query<{ position: string }>("select position::text as position from baton.telemetry_checkpoints where name = $1", [CHECKPOINT]);
      const after = cp[0]?.position ?? "0";
      const { rows: ended } = await client.query<{ position: string; stream_id: string; settled: boolean }>(
        `select position::text as position, stream_id, occurred_at < now() - make_interval(secs => $4::double precision / 1000) as settled
         from baton.events where position > $1::bigint and type = any($2::text[]) order by position limit $3`,
        [after, TERMINAL_RUN_EVENTS, batchSize, settleMs],
      );
      let checkpoint = after;
      let exported = 0;
      for (const row of ended) {
        if (!row.settled) break;
        const runTrace = buildRunTrace(await loadRunStream(client, row.stream_id, row.position));
        if (runTrace) {
          emitRunTrace(tracerProvider, runTrace);
          exported += 1;
        }
        checkpoint = row.position;
      }
      if (checkpoint !== after) {
        await client.query("update baton.telemetry_checkpoints set position = $2::bigint, updated_at = now() where name = $1", [CHECKPOINT, checkpoint]);
      }
      await client.query("commit");
      return exported;
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  const poll = (): Promise<number> => {
    const next = current.then(pollOnce, pollOnce);
    current = next.catch(() => 0);
    return next;
  };
  const timer = setInterval(() => {
    if (stopped) return;
    poll().catch((error: unknown) => {
      if (!stopped) log.warn({ err: error }, "trace export failed; retrying at the next poll");
    });
  }, intervalMs);
  timer.unref();

  return {
    poll,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
