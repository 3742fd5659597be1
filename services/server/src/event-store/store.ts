import { createHash } from "node:crypto";
import type { BatonEventBody, EventMetadata, StoredEvent } from "@baton/core";
import type pg from "pg";
import {
  applyEvent,
  emptyProjectionState,
  type ProjectedEvent,
  type ProjectionState,
} from "../projections/reducers";
import { PROJECTION_TABLES, type ProjectionName } from "../projections/rows";
import { jsonRecords, jsonValue } from "./row-json";

/** Anything that can run a query: a pool (autocommit) or a checked-out client inside a transaction. */
export type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

/**
 * Another writer appended to the stream first: the stream's version is no longer the one the command read.
 * Commands re-read and retry; callers of the raw append API get `{streamId, expectedVersion, actualVersion}`.
 */
export class AppendConflictError extends Error {
  readonly code = "append_conflict";
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
    options?: ErrorOptions,
  ) {
    super(`stream ${streamId}: expected version ${expectedVersion}, but it is at ${actualVersion}`, options);
    this.name = "AppendConflictError";
  }
}

/** A follow-up job for graphile-worker, added in the same statement as the events (the transactional outbox). */
export interface OutboxJob {
  /** graphile task identifier, e.g. `baton.execute_run`. */
  readonly task: string;
  readonly payload: Record<string, unknown>;
  /** When to run; default now. */
  readonly runAt?: Date | null;
  /** Dedupe key: a second job with the same key replaces the pending one (graphile `job_key`, mode `replace`). */
  readonly jobKey?: string | null;
  readonly maxAttempts?: number;
  readonly priority?: number;
  /** graphile `job_key_mode`: `replace` (default) or `preserve_run_at` (keep the pending job's time). */
  readonly jobKeyMode?: "replace" | "preserve_run_at";
  readonly queueName?: string | null;
}

interface PendingEvent {
  readonly streamId: string;
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
  readonly occurredAt: Date;
}

/**
 * One command's writes, built in memory and committed by one SQL statement (one round trip, one transaction):
 * the events (with optimistic per-stream versions), the projection rows they change (computed by the pure
 * reducers from the rows the command loaded), and the outbox jobs. Nothing is written until `commit`.
 */
export class UnitOfWork {
  readonly state: ProjectionState;
  private readonly events: PendingEvent[] = [];
  private readonly jobs: OutboxJob[] = [];
  private readonly removeJobKeys: string[] = [];
  private readonly notifications: Array<{ channel: string; payload: string }> = [];
  private readonly committedHooks: Array<() => void> = [];
  private readonly dirty: { [P in ProjectionName]: Set<string> } = {
    runs: new Set(),
    tasks: new Set(),
    event_records: new Set(),
    jobs: new Set(),
    job_versions: new Set(),
    endpoints: new Set(),
  };
  private readonly nextVersion = new Map<string, { expected: number; next: number }>();
  /** The time of every event of this unit of work. */
  readonly now: Date;

  constructor(state: ProjectionState = emptyProjectionState(), now: Date = new Date()) {
    this.state = state;
    this.now = now;
  }

  /**
   * Appends events to a stream, expecting it to be at `expectedVersion` (0 = a new stream), and applies them to
   * the loaded projection rows. A later call for the same stream passes the version after the earlier call's events
   * (which the reduced projection row's `version` already shows). `occurredAt` (default: the unit of work's time)
   * dates events that happened earlier than this unit of work, e.g. a claim whose commit was deferred.
   */
  append(streamId: string, expectedVersion: number, events: readonly BatonEventBody[], metadata: EventMetadata = {}, occurredAt: Date = this.now): void {
    let slot = this.nextVersion.get(streamId);
    if (!slot) {
      slot = { expected: expectedVersion, next: expectedVersion + 1 };
      this.nextVersion.set(streamId, slot);
    } else if (slot.next - 1 !== expectedVersion) {
      // a second append to the same stream must continue from the first one
      throw new Error(`unit of work: stream ${streamId} is at version ${slot.next - 1} here, not ${expectedVersion}`);
    }
    for (const body of events) {
      const pending: PendingEvent = {
        streamId,
        version: slot.next++,
        type: body.type,
        data: body.data,
        metadata,
        occurredAt,
      };
      this.events.push(pending);
      // fields listed, not `{ ...body, streamId, ... }`: on Node 20's V8 a spread followed by new keys takes a slow
      // runtime path (about 1.3 µs per added key, measured), and this runs for every event
      applyEvent(this.state, { type: body.type, data: body.data, streamId, version: pending.version, occurredAt } as ProjectedEvent, this.dirty);
    }
  }

  /** Adds a graphile-worker job to the same transaction. */
  enqueue(job: OutboxJob): void {
    this.jobs.push(job);
  }

  /** Runs `hook` once the unit of work has committed (never when it fails); e.g. dispatch a run in-process. */
  afterCommit(hook: () => void): void {
    this.committedHooks.push(hook);
  }

  /** Removes a pending graphile-worker job by key in the same transaction (e.g. a canceled delayed event). */
  dequeue(jobKey: string): void {
    this.removeJobKeys.push(jobKey);
  }

  /** Sends a Postgres notification (`pg_notify(channel, payload)`) if and when this unit of work commits. */
  notify(channel: string, payload: string): void {
    this.notifications.push({ channel, payload });
  }

  get isEmpty(): boolean {
    return this.events.length === 0 && this.jobs.length === 0 && this.removeJobKeys.length === 0 && this.notifications.length === 0;
  }

  /** The keys two units of work must not share to be combined into one statement (streams, rows, job keys). */
  conflictKeys(): string[] {
    const keys = [...this.nextVersion.keys()].map((k) => `s|${k}`);
    for (const projection of Object.keys(this.dirty) as ProjectionName[]) for (const k of this.dirty[projection]) keys.push(`${projection}|${k}`);
    for (const j of this.jobs) if (j.jobKey) keys.push(`j|${j.jobKey}`);
    for (const k of this.removeJobKeys) keys.push(`j|${k}`);
    return keys;
  }

  /** What this unit of work writes, as plain lists. */
  writeSet(): WriteSet {
    const rows = {} as WriteSet["rows"];
    for (const projection of Object.keys(this.dirty) as ProjectionName[]) {
      rows[projection] = [...this.dirty[projection]].map((k) => this.state[projection].get(k)).filter((r) => r !== undefined);
    }
    return { events: this.events, rows, jobs: this.jobs, removeJobKeys: this.removeJobKeys, notifications: this.notifications };
  }

  /**
   * Commits everything in one statement: one round trip, one transaction. Returns the global positions of the
   * appended events. On a pool, concurrent units of work with nothing in common are combined into one statement
   * (group commit, see {@link CommitBatcher}); on a checked-out client it runs in the caller's transaction.
   * @throws AppendConflictError when a stream moved past its expected version (nothing is written).
   * @throws the database error on any other constraint violation (nothing is written).
   */
  async commit(db: Queryable): Promise<string[]> {
    if (this.isEmpty) return [];
    // a checked-out client (it has `release`) is inside the caller's transaction; anything else autocommits
    const positions = "release" in db ? await this.commitAlone(db) : await batcherFor(db).submit(this);
    this.committed();
    return positions;
  }

  /** Runs the after-commit hooks (once). */
  committed(): void {
    for (const hook of this.committedHooks.splice(0)) hook();
  }

  /** Commits this unit of work in a statement of its own (no hooks). */
  async commitAlone(db: Queryable): Promise<string[]> {
    const { sql, params } = buildStatement([this.writeSet()]);
    try {
      // a named (prepared) statement per distinct shape: Postgres plans each shape once per connection
      const result = await db.query<{ positions?: string[] | null }>({ name: statementName(sql), text: sql, values: params });
      return result.rows[0]?.positions ?? [];
    } catch (error) {
      throw await this.translateError(db, error);
    }
  }

  private async translateError(db: Queryable, error: unknown): Promise<unknown> {
    const pgError = error as { code?: string; constraint?: string; detail?: string };
    if (pgError.code === "23505" && pgError.constraint === "events_stream_version_key") {
      const stream = /\(stream_id, version\)=\((.*), (\d+)\)/.exec(pgError.detail ?? "")?.[1];
      const slot = stream ? this.nextVersion.get(stream) : [...this.nextVersion.entries()][0]?.[1];
      const streamId = stream ?? [...this.nextVersion.keys()][0] ?? "?";
      let actual = -1;
      try {
        const { rows } = await db.query<{ v: number | null }>(
          "select max(version) as v from baton.events where stream_id = $1",
          [streamId],
        );
        actual = rows[0]?.v ?? 0;
      } catch {
        // inside an aborted transaction the lookup fails; the conflict is still reported
      }
      return new AppendConflictError(streamId, slot?.expected ?? -1, actual, { cause: error });
    }
    return error;
  }
}

/** The writes of one or more units of work. */
export interface WriteSet {
  readonly events: readonly PendingEvent[];
  readonly rows: { [P in ProjectionName]?: readonly unknown[] };
  readonly jobs: readonly OutboxJob[];
  readonly removeJobKeys: readonly string[];
  /** `pg_notify` calls, delivered at commit */
  readonly notifications?: ReadonlyArray<{ readonly channel: string; readonly payload: string }>;
}

/**
 * One SQL statement for the union of write sets: insert the events (in order), upsert each projection's rows, add
 * and remove graphile jobs. Data goes in as jsonb parameters, so the text depends only on which parts are present.
 */
export function buildStatement(sets: readonly WriteSet[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const ctes: string[] = [];
  const selects: string[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const events = sets.flatMap((w) => w.events);
  if (events.length) {
    const metadatas: EventMetadata[] = [];
    const metadataIndexes = new Map<EventMetadata, number>();
    const metadataIndex = (metadata: EventMetadata): number => {
      let index = metadataIndexes.get(metadata);
      if (index === undefined) {
        index = metadatas.push(metadata) - 1;
        metadataIndexes.set(metadata, index);
      }
      return index;
    };
    // each event as a JSON array [stream_id, version, type, data, metadata index, occurred_at]: positional, so
    // Postgres neither sorts nor looks up an envelope's keys (measured: 40 events inserted, 1.35-1.63 ms as objects
    // through jsonb_to_recordset, 1.14-1.32 ms as arrays)
    let p = "[";
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      p += `${i ? "," : ""}[${jsonValue(e.streamId)},${e.version},${jsonValue(e.type)},${jsonValue(e.data ?? {})},${metadataIndex(e.metadata)},${jsonValue(e.occurredAt)}]`;
    }
    const list = param(`${p}]`);
    // each distinct metadata object once (the events of one append share theirs): less JSON to write and to parse
    const m = param(JSON.stringify(metadatas));
    ctes.push(`ev as (
        insert into baton.events (stream_id, version, type, data, metadata, occurred_at)
        select x.e->>0, (x.e->>1)::int, x.e->>2, x.e->3, ${m}::jsonb -> (x.e->>4)::int, (x.e->>5)::timestamptz
        from jsonb_array_elements(${list}::jsonb) with ordinality as x(e, i)
        order by x.i
        returning position)`);
    selects.push(`(select array_agg(position::text order by position) from ev) as positions`);
  }
  for (const projection of Object.keys(PROJECTION_TABLES) as ProjectionName[]) {
    const rows = sets.flatMap((w) => w.rows[projection] ?? []);
    if (!rows.length) continue;
    const { table, key } = PROJECTION_TABLES[projection];
    const columns = Object.keys(rows[0] as object);
    const quoted = columns.map((c) => `"${c}"`);
    const updates = columns.filter((c) => !(key as readonly string[]).includes(c));
    // null columns left out: json_populate_recordset over null::table reads a missing key as null. json, not jsonb:
    // Postgres then does not build and key-sort a jsonb object per row first (measured: 16 run rows inserted,
    // 0.80-0.93 ms from jsonb, 0.60-0.77 ms from json)
    const p = param(jsonRecords(rows as object[], columns, { omitNull: true }));
    ctes.push(`p_${projection} as (
        insert into ${table} (${quoted.join(", ")})
        select ${quoted.join(", ")} from json_populate_recordset(null::${table}, ${p}::json)
        on conflict (${key.map((k) => `"${k}"`).join(", ")}) do update set
          (${updates.map((c) => `"${c}"`).join(", ")}) = row(${updates.map((c) => `excluded."${c}"`).join(", ")})
        returning 1)`);
    selects.push(`(select count(*) from p_${projection}) as ${projection}`);
  }
  // one graphile add_jobs call per job-key mode (one NOTIFY each), not one add_job per job; a job key given twice
  // keeps its last job (as `replace` would)
  const byKey = new Map<string, OutboxJob>();
  const keyless: OutboxJob[] = [];
  for (const j of sets.flatMap((w) => w.jobs)) {
    if (j.jobKey) {
      byKey.delete(j.jobKey);
      byKey.set(j.jobKey, j);
    } else keyless.push(j);
  }
  const jobs = [...keyless, ...byKey.values()];
  for (const preserveRunAt of [false, true]) {
    const group = jobs.filter((j) => (j.jobKeyMode === "preserve_run_at") === preserveRunAt);
    if (!group.length) continue;
    const p = param(
      JSON.stringify(
        group.map((j) => ({
          identifier: j.task,
          payload: j.payload,
          queue_name: j.queueName ?? null,
          run_at: j.runAt ? j.runAt.toISOString() : null,
          max_attempts: j.maxAttempts ?? 25,
          job_key: j.jobKey ?? null,
          priority: j.priority ?? 0,
        })),
      ),
    );
    const name = preserveRunAt ? "jobs_preserving" : "jobs";
    ctes.push(`${name} as (
        select count(*) as n from graphile_worker.add_jobs(array(
          select (x.identifier, x.payload, x.queue_name, x.run_at, x.max_attempts::smallint, x.job_key, x.priority::smallint, null::text[])::graphile_worker.job_spec
          from jsonb_to_recordset(${p}::jsonb) as x(identifier text, payload json, queue_name text, run_at timestamptz, max_attempts int, job_key text, priority int)),
          ${preserveRunAt}))`);
    selects.push(`(select n from ${name}) as ${name}`);
  }
  const removals = sets.flatMap((w) => w.removeJobKeys);
  if (removals.length) {
    const p = param(removals);
    ctes.push(`removed as (select graphile_worker.remove_job(k) as job from unnest(${p}::text[]) as k)`);
    selects.push(`(select count(*) from removed) as removed`);
  }
  const notifications = sets.flatMap((w) => w.notifications ?? []);
  if (notifications.length) {
    const channels = param(notifications.map((n) => n.channel));
    const payloads = param(notifications.map((n) => n.payload));
    selects.push(`(select count(pg_notify(n.c, n.p)) from unnest(${channels}::text[], ${payloads}::text[]) as n(c, p)) as notified`);
  }
  if (!ctes.length) return { sql: `select ${selects.join(", ")}`, params };
  return { sql: `with ${ctes.join(",\n")}\nselect ${selects.join(", ")}`, params };
}

/** Most units of work combined into one statement. */
const MAX_BATCH = 64;
/** Combined statements in flight at once per pool. */
const MAX_IN_FLIGHT = 2;
/** Statements of urgent units of work that may be in flight beyond {@link MAX_IN_FLIGHT} (their own lane). */
const URGENT_LANE = 1;

interface Submitted {
  readonly uow: UnitOfWork;
  readonly urgent: boolean;
  resolve: (p: string[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: units of work committed on the same pool while earlier statements are in flight are combined into
 * one statement (one transaction, one WAL flush) when they touch nothing in common; a batch that fails is retried
 * one unit of work at a time, so each still succeeds or fails on its own. Idle, a unit of work goes out at once.
 *
 * Urgent units of work (time-critical writes such as a wait ending at its due time) go ahead of everything queued
 * and may use one statement slot of their own, so they never wait behind a full queue of ordinary writes.
 */
export class CommitBatcher {
  private queue: Submitted[] = [];
  private inFlight = 0;
  constructor(private readonly pool: Queryable) {}

  /** Commits `uow` in the next statement that has room for it. @returns the positions of its events. */
  submit(uow: UnitOfWork, options: { urgent?: boolean } = {}): Promise<string[]> {
    return this.submitAll([uow], options)[0]!;
  }

  /**
   * Submits several units of work at once, so they can share one statement (each still succeeds or fails alone).
   * @returns one promise per unit of work, in order: the positions of its events.
   */
  submitAll(uows: readonly UnitOfWork[], options: { urgent?: boolean } = {}): Array<Promise<string[]>> {
    const urgent = options.urgent ?? false;
    const items: Submitted[] = [];
    const promises = uows.map(
      (uow) =>
        new Promise<string[]>((resolve, reject) => {
          items.push({ uow, urgent, resolve, reject });
        }),
    );
    if (urgent) {
      // ahead of ordinary writes, behind earlier urgent ones
      const firstOrdinary = this.queue.findIndex((q) => !q.urgent);
      this.queue.splice(firstOrdinary < 0 ? this.queue.length : firstOrdinary, 0, ...items);
    } else this.queue.push(...items);
    this.pump();
    return promises;
  }

  private pump(): void {
    while (this.queue.length && this.inFlight < MAX_IN_FLIGHT + (this.queue[0]!.urgent ? URGENT_LANE : 0)) {
      // beyond the ordinary slots, a statement of urgent units of work only (small, so it commits fast)
      const urgentOnly = this.inFlight >= MAX_IN_FLIGHT;
      const batch: Submitted[] = [];
      const rest: Submitted[] = [];
      const seen = new Set<string>();
      for (const item of this.queue) {
        const keys = item.uow.conflictKeys();
        if (batch.length < MAX_BATCH && (item.urgent || !urgentOnly) && keys.every((k) => !seen.has(k))) {
          for (const k of keys) seen.add(k);
          batch.push(item);
        } else rest.push(item);
      }
      this.queue = rest;
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Submitted[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch;
      await only!.uow.commitAlone(this.pool).then(only!.resolve, only!.reject);
      return;
    }
    const sets = batch.map((b) => b.uow.writeSet());
    const { sql, params } = buildStatement(sets);
    try {
      const result = await this.pool.query<{ positions?: string[] | null }>({ name: statementName(sql), text: sql, values: params });
      const positions = result.rows[0]?.positions ?? [];
      let offset = 0;
      batch.forEach((b, i) => {
        const n = sets[i]!.events.length;
        b.resolve(positions.slice(offset, offset + n));
        offset += n;
      });
    } catch {
      // one of them failed (a lost race, a constraint): each on its own, so the others still commit
      await Promise.all(batch.map((b) => b.uow.commitAlone(this.pool).then(b.resolve, b.reject)));
    }
  }
}

const batchers = new WeakMap<Queryable, CommitBatcher>();
function batcherFor(pool: Queryable): CommitBatcher {
  let batcher = batchers.get(pool);
  if (!batcher) {
    batcher = new CommitBatcher(pool);
    batchers.set(pool, batcher);
  }
  return batcher;
}

/**
 * Commits several units of work ahead of everything queued on the pool's group commit ({@link CommitBatcher}'s urgent
 * lane), combined into as few statements as they allow; each succeeds or fails on its own and runs its after-commit
 * hooks when it succeeds. For time-critical writes only (a wait ending at its due time).
 * @returns one settled result per unit of work, in order (`rejected` with e.g. an {@link AppendConflictError}).
 */
export async function commitUrgently(pool: Pick<pg.Pool, "query">, uows: readonly UnitOfWork[]): Promise<Array<PromiseSettledResult<string[]>>> {
  const pending = uows.filter((u) => !u.isEmpty);
  const results = await Promise.allSettled(batcherFor(pool).submitAll(pending, { urgent: true }));
  pending.forEach((u, i) => {
    if (results[i]!.status === "fulfilled") u.committed();
  });
  let i = 0;
  return uows.map((u) => (u.isEmpty ? { status: "fulfilled", value: [] } : results[i++]!));
}

const statementNames = new Map<string, string>();

/** A stable prepared-statement name for a statement text (`baton_<sha1 prefix>`). */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) {
    name = `baton_${createHash("sha1").update(sql).digest("hex").slice(0, 16)}`;
    statementNames.set(sql, name);
  }
  return name;
}

interface EventRow {
  position: string;
  stream_id: string;
  version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    position: row.position,
    streamId: row.stream_id,
    version: row.version,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    occurredAt: row.occurred_at,
  } as StoredEvent;
}

/** Appends events to one stream at an expected version (0 = new stream) without projections or jobs. */
export async function appendToStream(
  db: Queryable,
  streamId: string,
  expectedVersion: number,
  events: readonly BatonEventBody[],
  metadata: EventMetadata = {},
): Promise<string[]> {
  const uow = new UnitOfWork();
  uow.append(streamId, expectedVersion, events, metadata);
  return await uow.commit(db);
}

/** Reads one stream in version order, optionally only up to a global position (inclusive). */
export async function readStream(db: Queryable, streamId: string, options: { toPosition?: string } = {}): Promise<StoredEvent[]> {
  const { rows } = await db.query<EventRow>(
    `select e.position::text as position, stream_id, version, type, data, metadata, occurred_at
     from baton.events e where stream_id = $1 and ($2::bigint is null or e.position <= $2::bigint) order by version`,
    [streamId, options.toPosition ?? null],
  );
  return rows.map(toStoredEvent);
}

/** Reads the whole store in global order from a position (exclusive), `limit` events at a time. */
export async function readAll(db: Queryable, options: { afterPosition?: string; limit?: number } = {}): Promise<StoredEvent[]> {
  const { rows } = await db.query<EventRow>(
    `select e.position::text as position, stream_id, version, type, data, metadata, occurred_at
     from baton.events e where e.position > $1::bigint order by e.position limit $2`,
    [options.afterPosition ?? "0", options.limit ?? 1000],
  );
  return rows.map(toStoredEvent);
}

/** Folds stored events into projection rows (used by rebuild and point-in-time). */
export function foldEvents(events: readonly StoredEvent[], state: ProjectionState = emptyProjectionState()): ProjectionState {
  for (const e of events) applyEvent(state, e as unknown as ProjectedEvent);
  return state;
}
