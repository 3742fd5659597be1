/**
 * `npm run bench:append` (issue #2, performance): event-store throughput through `UnitOfWork`. `--appenders` (16)
 * concurrent appenders each own a run stream and append one event at a time (`task.created`: an event, a new
 * `baton.tasks` row and the updated `baton.runs` row), plus an outbox job (`graphile_worker.add_job` with a job key)
 * every `--outbox-every` (10) appends, each append one `UnitOfWork.commit`. Prints appended events/s and round trips
 * per append (every query sent is counted). Target: >= 5,000 events/s with 16 appenders.
 *
 *   npm run bench:append [-- --seconds 10 --appenders 16 --outbox-every 10 --quick --json <file>]
 *
 * Postgres: DATABASE_URL's server (a fresh database, dropped after) or a throwaway embedded one.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { migrate, UnitOfWork } from "@baton/server";
import { startBenchPostgres } from "./bench/postgres";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
function argString(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const SECONDS = arg("seconds", quick ? 4 : 10);
const APPENDERS = arg("appenders", 16);
const OUTBOX_EVERY = arg("outbox-every", 10);
const TARGET = 5000;

const progress = (m: string): void => void process.stderr.write(`[bench:append] ${m}\n`);

async function main(): Promise<void> {
  const postgres = await startBenchPostgres(progress);
  const pool = new pg.Pool({ connectionString: postgres.url, max: APPENDERS });
  try {
    await migrate(postgres.url);
    const envId = `env_bench_${randomBytes(4).toString("hex")}`;
    await pool.query(
      `insert into baton.environments (id, slug, type, api_key_hash, api_key_hint, api_key_ciphertext)
       values ($1, $1, 'DEVELOPMENT', $1, 'bench', 'none')`,
      [envId],
    );
    let queries = 0;
    /** every query (= one round trip) goes through here */
    const db = { query: ((...args: Parameters<pg.Pool["query"]>) => (queries++, pool.query(...args))) as pg.Pool["query"] };

    // one run stream per appender
    const runs = await Promise.all(
      Array.from({ length: APPENDERS }, async (_, a) => {
        const runId = `run_bench_${a}_${randomBytes(4).toString("hex")}`;
        const uow = new UnitOfWork();
        uow.append(runId, 0, [
          {
            type: "run.created",
            data: {
              runId,
              environmentId: envId,
              jobSlug: "bench-append",
              jobVersion: "1.0.0",
              endpointId: "none",
              eventRecordId: "none",
              isTest: false,
              concurrencyKey: null,
              concurrencyLimit: null,
              traceparent: null,
            },
          },
        ]);
        await uow.commit(pool);
        return { runId, row: uow.state.runs.get(runId)! };
      }),
    );

    let appended = 0;
    let jobs = 0;
    let stop = false;
    const appender = async (a: number): Promise<void> => {
      const me = runs[a]!;
      let n = 0;
      while (!stop) {
        const uow = new UnitOfWork();
        uow.state.runs.set(me.runId, me.row);
        const i = n++;
        uow.append(me.runId, me.row.version, [
          {
            type: "task.created",
            data: {
              taskId: `task_${a}_${i}_${me.runId}`,
              idempotencyKey: `k${i}`,
              parentId: null,
              depth: 0,
              name: "bench",
              displayKey: null,
              icon: null,
              description: null,
              noop: false,
              operation: null,
              parallel: false,
              status: "COMPLETED",
              delayUntil: null,
            },
          },
        ]);
        if (i % OUTBOX_EVERY === OUTBOX_EVERY - 1) {
          uow.enqueue({ task: "bench.append_noop", payload: { runId: me.runId, i }, jobKey: `bench-append:${me.runId}`, runAt: new Date(Date.now() + 3_600_000) });
          jobs++;
        }
        await uow.commit(db);
        me.row = uow.state.runs.get(me.runId)!;
        appended++;
      }
    };

    // warm-up (plans, connections), then the measured window
    stop = false;
    const warm = Array.from({ length: APPENDERS }, (_, a) => appender(a));
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(warm);

    appended = 0;
    jobs = 0;
    queries = 0;
    if (postgres.pgStatStatements) await pool.query("select pg_stat_statements_reset()");
    stop = false;
    progress(`${APPENDERS} appenders for ${SECONDS} s (outbox job every ${OUTBOX_EVERY} appends)…`);
    const started = performance.now();
    const all = Array.from({ length: APPENDERS }, (_, a) => appender(a));
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stop = true;
    await Promise.all(all);
    const seconds = (performance.now() - started) / 1000;
    const perSecond = appended / seconds;

    const statements = postgres.pgStatStatements
      ? (
          await pool.query<{ query: string; calls: string; mean_ms: number; total_ms: number }>(
            `select left(regexp_replace(query, '\\s+', ' ', 'g'), 160) as query, calls::text, round(mean_exec_time::numeric, 3)::float8 as mean_ms,
                    round(total_exec_time::numeric, 1)::float8 as total_ms
             from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
             order by total_exec_time desc limit 5`,
          )
        ).rows
      : [];

    // the floor on this machine right now: single-row autocommit inserts, same clients, same duration
    await pool.query("create table if not exists public.bench_append_floor (id bigserial primary key, a int, b text)");
    let floorCommits = 0;
    stop = false;
    const floorStarted = performance.now();
    const floor = Array.from({ length: APPENDERS }, async (_, a) => {
      while (!stop) {
        await pool.query("insert into public.bench_append_floor (a, b) values ($1, $2)", [a, "x"]);
        floorCommits++;
      }
    });
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stop = true;
    await Promise.all(floor);
    const floorPerSecond = floorCommits / ((performance.now() - floorStarted) / 1000);
    const result = {
      appended_events_per_s: Number(perSecond.toFixed(1)),
      round_trips_per_append: Number((queries / appended).toFixed(3)),
      appends: appended,
      outbox_jobs: jobs,
      appenders: APPENDERS,
      outbox_every: OUTBOX_EVERY,
      seconds: Number(seconds.toFixed(2)),
      single_row_commits_per_s: Number(floorPerSecond.toFixed(1)),
      share_of_single_row_commits: Number((perSecond / floorPerSecond).toFixed(3)),
      target_events_per_s: TARGET,
      postgres: postgres.kind,
      pg_stat_statements: statements,
    };
    console.log(
      `appended ${appended} events in ${seconds.toFixed(2)} s with ${APPENDERS} appenders: ${perSecond.toFixed(0)} events/s ` +
        `(target >= ${TARGET}: ${perSecond >= TARGET ? "met" : "MISSED"}); ${result.round_trips_per_append} round trips per append; ` +
        `${jobs} outbox jobs`,
    );
    console.log(
      `floor: single-row autocommit inserts with ${APPENDERS} clients on this Postgres now: ${floorPerSecond.toFixed(0)}/s ` +
        `(appends reach ${(result.share_of_single_row_commits * 100).toFixed(0)}% of it)`,
    );
    for (const st of statements) console.log(`  pg_stat_statements: ${st.calls} calls, mean ${st.mean_ms} ms (server time): ${st.query}`);
    const out = argString("json");
    if (out) {
      mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    }
  } finally {
    await pool.end();
    await postgres.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("[bench:append] failed:", error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
