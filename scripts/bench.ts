/**
 * `npm run bench` (issue #7): Baton's throughput, latency, wait precision, ingest and memory, measured the way a user
 * runs it (Postgres, the server and an `@baton/sdk` endpoint in separate processes talking HTTP), side by side with
 * DBOS and raw graphile-worker on the same Postgres in the same run. Prints one table and writes
 * `bench-results/latest.json`.
 *
 * The repetitions of metrics 1 and 2 are interleaved with DBOS's (DBOS, Baton; Baton, DBOS; DBOS, Baton; ...), both
 * systems alive throughout, Postgres settled and the system re-warmed (`rewarmOne`, `rewarmTwenty`) before each
 * repetition: this machine's speed drifts by up to 20% over minutes, and measuring one system's repetitions a minute
 * after the other's let the drift decide the ratio. DBOS keeps its tables in a database of its own on the same server
 * (`<database>_dbos`).
 *
 *   npm run bench                 full run (several minutes)
 *   npm run bench -- --quick      about a minute
 *   npm run bench -- --smoke      tiny sizes (the test in scripts/test keeps this working)
 *   --profile                     node --cpu-prof on the server and endpoint children; pg_stat_statements summary
 *   --no-peers                    skip DBOS and graphile-worker
 *   --rss-only                    only metric 7 (server RSS with runs waiting, and where it goes); no peers
 *   --waiting <n>                 runs waiting for metric 7 (default 10,000; 1,000 with --quick)
 *   --settle <s>                  metric 7 also reads the RSS again after <s> more seconds (`rss_mb_waiting_settled`)
 *   --out <file>                  where to write the JSON (default bench-results/latest.json)
 *   --only runs|ingest|wait       only metric 1, 6 or 5 (1 and 6 with their CPU split by process), no peers: for
 *                                 profiling iterations
 *   --runs <n>                    one-task runs per repetition of metric 1 (default 12,000; 2,000 with --quick), after as
 *                                 many again as warm-up (DBOS gets the same warm-up)
 *   --concurrency <n>             events/workflows in flight and the server's worker concurrency, for Baton and DBOS
 *                                 alike (default 32)
 *
 * The server runs as `npm run server` runs it: `dist/server.js` (built first by scripts/build.mjs) on node with the node
 * flags of package.json's "server" script, plus `bench/memory-probe.mjs` (answers SIGUSR2 with a memory breakdown).
 * Experiments: BENCH_SERVER_NODE_FLAGS replaces those flags (e.g. "" for V8's defaults); BENCH_MEMORY_TRACE,
 * BENCH_HEAP_SNAPSHOT_DIR and BENCH_GC_STATS are read by the memory probe (see there); BENCH_NO_SETTLE skips the
 * vacuum and checkpoint before each measured repetition of metrics 1 and 2 (settlePostgres).
 *
 * Postgres: DATABASE_URL (a fresh database `baton_bench_<random>` is created on that server and dropped after, when
 * allowed), else an embedded Postgres in a throwaway temp directory (never `.baton/pgdata`).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { Agent } from "undici";
import { BENCH_EVENTS, BENCH_JOBS, TWENTY } from "./bench/endpoint";
import { graphileNoopJobsPerSecond } from "./bench/graphile";
import { createScratchDatabase, startBenchPostgres } from "./bench/postgres";
import { summarizeCpuProfile } from "./bench/profile";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

type Mode = "full" | "quick" | "smoke";

interface Sizes {
  reps: number;
  /**
   * one-task runs (and DBOS one-step workflows) done before metric 1 is measured, the same number on both sides: V8
   * needs thousands of calls before the hot paths run optimized (server CPU per run falls by about half). 4,000 was
   * not enough for either system: in five full runs, Baton's first repetition (5,000 runs done) read 1.01-1.11 ms of
   * server CPU per run against 0.85-0.96 from the second on (10,000 done), and DBOS's third repetition beat its first
   * every time (by 2-14%)
   */
  warmup: number;
  /**
   * runs per repetition of metric 1. Sized so that a repetition lasts about as long as DBOS's (`dbosOne`), not to the
   * same count: the interleaved pairs then cover the same stretch of the machine's drifting speed, and a ramp-up and
   * a tail weigh the same on both sides (4,000 runs was 3.7-4.8 s against DBOS's 11-13 s, and one full run's three
   * repetitions read 836, 1,084 and 947 runs/s)
   */
  runsOne: number;
  /** runs (of 20 tasks) per repetition of metric 2, sized as `runsOne` against `dbosTwenty` (150 was under 0.6 s) */
  runsTwenty: number;
  latencySamples: number;
  waitRuns: number;
  ingestSingle: number;
  ingestBulk: number;
  bulkBatch: number;
  waitingForRss: number;
  dbosOne: number;
  dbosTwenty: number;
  /**
   * Interleaved with DBOS: one-task runs (one-step workflows) and 20-task runs (20-step workflows) each system does,
   * unmeasured, right before each of its repetitions. The other system's repetition left it idle for many seconds,
   * and a node process idle that long runs its next few thousand requests slower (measured: server CPU per run 1.14
   * and 1.17 ms after a 20-s pause, 1.09 and 1.03 without; DBOS's repetitions after a pause were its slowest too).
   */
  rewarmOne: number;
  rewarmTwenty: number;
  graphileJobs: number;
  /** in-flight workflows / server worker concurrency */
  concurrency: number;
}

const SIZES: Record<Mode, Sizes> = {
  full: {
    reps: 3,
    warmup: 12000,
    runsOne: 12000,
    runsTwenty: 600,
    latencySamples: 200,
    waitRuns: 1000,
    ingestSingle: 4000,
    ingestBulk: 20000,
    bulkBatch: 100,
    waitingForRss: 10000,
    dbosOne: 4000,
    dbosTwenty: 150,
    rewarmOne: 1000,
    rewarmTwenty: 40,
    graphileJobs: 20000,
    concurrency: 32,
  },
  quick: {
    reps: 1,
    warmup: 2000,
    // a few seconds of steady state (300 runs was under a second, mostly ramp-up and tail)
    runsOne: 2000,
    // 3,000 tasks: under a second at the current rate (20 runs was a tenth of that, too short to read a rate from)
    runsTwenty: 150,
    latencySamples: 40,
    waitRuns: 200,
    ingestSingle: 500,
    ingestBulk: 3000,
    bulkBatch: 100,
    waitingForRss: 1000,
    dbosOne: 2000,
    dbosTwenty: 150,
    rewarmOne: 500,
    rewarmTwenty: 40,
    graphileJobs: 3000,
    concurrency: 32,
  },
  smoke: {
    reps: 1,
    warmup: 10,
    runsOne: 10,
    runsTwenty: 2,
    latencySamples: 3,
    waitRuns: 5,
    ingestSingle: 30,
    ingestBulk: 100,
    bulkBatch: 50,
    waitingForRss: 10,
    dbosOne: 10,
    dbosTwenty: 2,
    rewarmOne: 3,
    rewarmTwenty: 1,
    graphileJobs: 100,
    concurrency: 8,
  },
};

const TERMINAL_BAD = ["FAILURE", "TIMED_OUT", "CANCELED", "INVALID_PAYLOAD"];

// ---------------------------------------------------------------------------------------------------------------
// small helpers

const t0 = performance.now();
function progress(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!finite.length) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (v: number, digits = 1): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

const agent = new Agent({ connections: 128 });

/**
 * POSTs JSON over undici's keep-alive pool (about half the CPU per request of node:http's client: 72 vs 155 µs at 32
 * in flight, measured here), for the requests that are few or whose answers are read: setup, latency samples (one
 * event at a time), bulk batches. The phases that make one POST per run use {@link postEvents}, lighter still.
 */
async function postJson(baseUrl: string, route: string, body: unknown, apiKey: string): Promise<{ status: number; body: string }> {
  const url = new URL(route, baseUrl);
  const response = await agent.request({
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.statusCode, body: await response.body.text() };
}

/**
 * POSTs the same event `count` times to `POST /api/v1/events` over `connections` keep-alive connections (one request in
 * flight on each), through autocannon: its requests are written from one prepared buffer and its responses parsed
 * without building request objects, so it costs about half the CPU per request of undici's request API (47-58 vs
 * 80-111 µs at 32 in flight against a bare node:http server, measured here). Every run of the one-task phases starts
 * with one such POST, on the same 2 cores as the system under test, so the load generator's own CPU is taken from
 * Baton's (DBOS's workflows are started by function calls in its own process).
 * @throws when a request fails or is answered with anything but 200 (the count of each in the message)
 */
async function postEvents(stack: Stack, name: string, count: number, connections: number): Promise<void> {
  if (count <= 0) return;
  const result = await autocannon({
    url: new URL("/api/v1/events", stack.apiUrl).href,
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    // the same body every time: the server gives each event an id of its own
    body: JSON.stringify({ event: { name, payload: { i: 0 } } }),
    connections: Math.max(1, Math.min(connections, count)),
    // `amount` ends it (duration is then ignored); a slow system is caught by runBatch's time-out
    amount: count,
    timeout: 60,
    // autocannon resolves at its first sampling tick after the last answer: with its default 1-s ticks, 4,000 single
    // events read 2.02 s (1,980-1,983 events/s in three full runs, whatever the machine's speed)
    sampleInt: 10,
  });
  const answered2xx = result["2xx"];
  if (result.errors || result.timeouts || result.non2xx || answered2xx !== count) {
    throw new Error(
      `POST /api/v1/events ×${count}: ${answered2xx} answered 2xx, ${result.non2xx} answered otherwise (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} time-outs`,
    );
  }
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight. */
async function drive(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
}

/** A child node process (TypeScript through `--import tsx`, or built JavaScript), its output read line by line. */
interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** last lines of output, for error messages */
  readonly tail: string[];
  /** resolves with the first stdout line matching `test` */
  waitForLine(test: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** `stdin`: give the child a stdin pipe (`proc.stdin`) to send it commands; else it reads nothing. */
function spawnTsx(name: string, script: string, env: NodeJS.ProcessEnv, nodeFlags: readonly string[] = [], options: { stdin?: boolean } = {}): Child {
  return spawnNode(name, [...nodeFlags, "--import", "tsx", script], env, options);
}

function spawnNode(name: string, args: readonly string[], env: NodeJS.ProcessEnv, options: { stdin?: boolean } = {}): Child {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  // a write racing the child's exit (EPIPE) is not an error of the bench: the exit itself is reported (waitForLine)
  proc.stdin?.on("error", () => undefined);
  const tail: string[] = [];
  const waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 60) tail.shift();
    for (const w of waiters) {
      if (w.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
    if (/"level":(50|60)/.test(line)) progress(`${name}: ${line.slice(0, 300)}`);
  };
  createInterface({ input: proc.stdout! }).on("line", onLine);
  createInterface({ input: proc.stderr! }).on("line", (line) => {
    onLine(line);
    if (process.env["BENCH_VERBOSE"]) progress(`${name} stderr: ${line}`);
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    name,
    proc,
    pid: proc.pid,
    tail,
    exited,
    waitForLine(test, timeoutMs) {
      const found = tail.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { test, resolve };
        waiters.add(w);
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${name} printed no expected line within ${timeoutMs} ms; its output:\n${tail.join("\n")}`));
        }, timeoutMs);
        void exited.then((code) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`${name} exited with ${code}; its output:\n${tail.join("\n")}`));
        });
        const resolveOnce = w.resolve;
        w.resolve = (line) => {
          clearTimeout(timer);
          resolveOnce(line);
        };
      });
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The node flags `npm run server` starts the server with (package.json: `... && node <flags> dist/server.js`). */
function npmServerNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const match = /(?:^|&&)\s*node\s+((?:--\S+\s+)*)dist\/server\.js\s*$/.exec(pkg.scripts["server"] ?? "");
  if (!match) throw new Error(`package.json's "server" script should end with "node [flags] dist/server.js": ${pkg.scripts["server"]}`);
  return match[1]!.split(/\s+/).filter(Boolean);
}

/**
 * CPU seconds (user + system, every thread) a process used so far (Linux; NaN elsewhere). `reaped`: add the CPU of its
 * children that exited and were waited for (cutime + cstime).
 */
function cpuSeconds(pid: number, reaped = false): number {
  try {
    // fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17 (in clock ticks, 100 per
    // second on Linux)
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return (Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0)) / 100;
  } catch {
    return Number.NaN;
  }
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : Number.NaN;
}

/** Postgres's processes: the postmaster (parent of `backendPid`) and all its children. */
function postgresPids(backendPid: number): number[] {
  const ppidOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]);
  try {
    const postmaster = ppidOf(backendPid);
    const children = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          return ppidOf(pid) === postmaster;
        } catch {
          return false;
        }
      });
    return [postmaster, ...children];
  } catch {
    return [];
  }
}

/** CPU seconds used so far by the server, the endpoint, Postgres (all its processes) and this bench process. */
async function cpuSplit(stack: Stack): Promise<Record<"server" | "endpoint" | "postgres" | "bench", number>> {
  const { rows } = await stack.db.query<{ pid: number }>("select pg_backend_pid() as pid");
  const usage = process.cpuUsage();
  return {
    server: cpuSeconds(stack.server.pid),
    endpoint: cpuSeconds(stack.endpoint.pid),
    // the postmaster with its exited children (autovacuum workers, closed connections), so a backend that exits
    // between two readings keeps counting
    postgres: postgresPids(rows[0]!.pid).reduce((sum, pid, i) => sum + (cpuSeconds(pid, i === 0) || 0), 0),
    bench: (usage.user + usage.system) / 1e6,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Postgres

// ---------------------------------------------------------------------------------------------------------------
// Baton: the server and the endpoint in their own processes

interface Stack {
  readonly server: Child;
  readonly endpoint: Child;
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly db: pg.Pool;
  readonly profileDir: string | undefined;
}

async function startStack(pgUrl: string, sizes: Sizes, profile: boolean): Promise<Stack> {
  const apiKey = `tr_dev_bench${randomBytes(8).toString("hex")}`;
  const profileDir = profile ? path.join(ROOT, "bench-results", "profiles") : undefined;
  if (profileDir) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  // one directory per child: the tsx loader's worker thread writes its own profile too (thread id 1)
  const cpuProf = (name: string): string[] => (profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(profileDir, name)] : []);
  // the server runs as `npm run server` runs it: built JavaScript on plain node with the same flags
  execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs"), "--quiet"], { cwd: ROOT, stdio: "inherit" });
  const flagsOverride = process.env["BENCH_SERVER_NODE_FLAGS"];
  const serverFlags = flagsOverride === undefined ? npmServerNodeFlags() : flagsOverride.split(/\s+/).filter(Boolean);
  progress(`server: node ${[...serverFlags, "dist/server.js"].join(" ")}`);
  const server = spawnNode(
    "server",
    [...cpuProf("server"), ...serverFlags, "--import", pathToFileURL(path.join(ROOT, "scripts", "bench", "memory-probe.mjs")).href, "dist/server.js"],
    {
      DATABASE_URL: pgUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
      BATON_API_KEY: apiKey,
      BATON_PROD_API_KEY: `tr_prod_bench${randomBytes(8).toString("hex")}`,
      BATON_SECRET: `bench-secret-${randomBytes(12).toString("hex")}`,
      BATON_WORKER_CONCURRENCY: String(sizes.concurrency),
    },
  );
  const line = await server.waitForLine((l) => /Baton is running at (\S+)/.test(l), 60_000);
  const apiUrl = /Baton is running at (\S+)/.exec(line)![1]!;
  progress(`server pid ${server.pid} at ${apiUrl}`);
  const endpoint = spawnTsx(
    "endpoint",
    "scripts/bench/endpoint.ts",
    { BENCH_ROLE: "endpoint", BATON_API_KEY: apiKey, BATON_API_URL: apiUrl, BENCH_CLIENT_ID: "bench-app" },
    cpuProf("endpoint"),
  );
  const endpointLine = await endpoint.waitForLine((l) => l.startsWith("{") && l.includes('"url"'), 60_000);
  const endpointUrl = (JSON.parse(endpointLine) as { url: string }).url;
  const registered = await postJson(apiUrl, "/api/v1/endpoints", { id: "bench-app", url: endpointUrl }, apiKey);
  if (registered.status !== 200) throw new Error(`registering the endpoint failed: ${registered.status} ${registered.body}`);
  progress(`endpoint pid ${endpoint.pid} at ${endpointUrl}, registered`);
  const db = new pg.Pool({ connectionString: pgUrl, max: 4 });
  return { server, endpoint, apiUrl, apiKey, db, profileDir };
}

async function sendEvent(stack: Stack, name: string, payload: unknown, id?: string): Promise<void> {
  const r = await postJson(stack.apiUrl, "/api/v1/events", { event: { name, payload, ...(id ? { id } : {}) } }, stack.apiKey);
  if (r.status !== 200) throw new Error(`POST /api/v1/events: ${r.status} ${r.body.slice(0, 500)}`);
}

async function sendBulk(stack: Stack, events: unknown[]): Promise<void> {
  const r = await postJson(stack.apiUrl, "/api/v1/events/bulk", { events }, stack.apiKey);
  if (r.status !== 200) throw new Error(`POST /api/v1/events/bulk: ${r.status} ${r.body.slice(0, 500)}`);
}

interface JobCounts {
  ok: number;
  bad: number;
  last: Date | null;
  xactCommit: number;
  xidNext: number;
  tasksCompleted: number;
}

/**
 * One statement (one commit) that reads a job's progress and the database's commit counters. `since`: only runs
 * created from then on (read through the (environment, job, created_at) index, so the bench's own polling stays cheap
 * for Postgres however many runs earlier phases left).
 */
async function jobCounts(stack: Stack, jobSlug: string, withTasks = false, since: Date | null = null): Promise<JobCounts> {
  const { rows } = await stack.db.query<{ ok: string; bad: string; last: Date | null; xact: string; xid: string; tasks: string | null }>(
    `with r as (
       select id, status, completed_at from baton.runs
       where environment_id = (select environment_id from baton.jobs where slug = $1 limit 1) and job_slug = $1
         and created_at >= $4::timestamptz)
     select count(*) filter (where status = 'SUCCESS') as ok,
            count(*) filter (where status = any($2::text[])) as bad,
            max(completed_at) filter (where status = 'SUCCESS') as last,
            (select xact_commit from pg_stat_database where datname = current_database()) as xact,
            pg_snapshot_xmax(pg_current_snapshot())::text as xid,
            case when $3 then (select count(*) from baton.tasks t where t.run_id in (select id from r) and t.status = 'COMPLETED') end as tasks
     from r`,
    [jobSlug, TERMINAL_BAD, withTasks, since ?? "-infinity"],
  );
  const r = rows[0]!;
  return { ok: Number(r.ok), bad: Number(r.bad), last: r.last, xactCommit: Number(r.xact), xidNext: Number(r.xid), tasksCompleted: Number(r.tasks ?? 0) };
}

async function describeFailure(stack: Stack, jobSlug: string): Promise<string> {
  const { rows } = await stack.db.query<{ id: string; status: string; error: unknown }>(
    "select id, status, error from baton.runs where job_slug = $1 and status = any($2::text[]) limit 1",
    [jobSlug, TERMINAL_BAD],
  );
  return rows[0] ? `${rows[0].id} ${rows[0].status}: ${JSON.stringify(rows[0].error)}` : "?";
}

/**
 * Sends `count` events for `jobSlug` (single POSTs through {@link postEvents}, `clientConcurrency` in flight) and waits
 * until they all SUCCEED.
 * Returns the seconds from the first POST to the last run's completion, and the counter samples taken meanwhile.
 */
async function runBatch(
  stack: Stack,
  opts: { jobSlug: string; event: string; count: number; clientConcurrency: number; timeoutMs: number; label: string; withTasks?: boolean },
): Promise<{ seconds: number; samples: Array<JobCounts & { at: number }> }> {
  // runs of this batch only (created from a moment before its first POST; the bench and the server share a clock)
  const since = new Date(Date.now() - 1000);
  const base = await jobCounts(stack, opts.jobSlug, false, since);
  const target = base.ok + opts.count;
  const startedAt = Date.now();
  const samples: Array<JobCounts & { at: number }> = [];
  let sendError: unknown;
  const sending = postEvents(stack, opts.event, opts.count, opts.clientConcurrency).catch((e: unknown) => {
    sendError = e;
  });
  let lastPrint = 0;
  let pause = 1000;
  for (;;) {
    // The rate comes from the last run's completed_at, so polling slower only delays the end of the batch. Each poll
    // reads every run of the batch so far (about 24 ms of Postgres CPU at 12,000 runs): a load on the system measured
    // that DBOS's side does not have. So the bench sleeps through most of the time the batch should still take at
    // its rate so far, polling at least every 4 s (a hung batch still shows) and at most once a second.
    await sleep(pause);
    if (sendError) throw sendError;
    const c = await jobCounts(stack, opts.jobSlug, opts.withTasks, since);
    samples.push({ ...c, at: Date.now() });
    if (c.bad > base.bad) throw new Error(`${opts.label}: a run did not succeed: ${await describeFailure(stack, opts.jobSlug)}`);
    if (c.ok >= target) {
      await sending;
      const seconds = ((c.last?.getTime() ?? Date.now()) - startedAt) / 1000;
      return { seconds, samples };
    }
    const elapsed = Date.now() - startedAt;
    if (elapsed > opts.timeoutMs) throw new Error(`${opts.label}: only ${c.ok - base.ok}/${opts.count} runs succeeded in ${opts.timeoutMs} ms`);
    const done = c.ok - base.ok;
    pause = done > 0 ? Math.min(4000, Math.max(1000, 0.8 * ((opts.count - done) * elapsed) / done)) : 1000;
    if (Date.now() - lastPrint > 2000) {
      lastPrint = Date.now();
      progress(`${opts.label}: ${c.ok - base.ok}/${opts.count} runs done`);
    }
  }
}

/**
 * `xact_commit` and the next transaction id once Postgres's cumulative statistics have caught up: backends publish
 * their counters lazily (PG 15: at most once a second while busy, within ~10 s once idle), so the value is read until
 * it holds still for 1.5 s (at most `maxMs`). `queries` counts this function's own reads (each one is a transaction).
 */
async function settledCounters(db: pg.Pool, maxMs: number): Promise<{ xactCommit: number; xidNext: number; queries: number }> {
  const read = async (): Promise<{ xactCommit: number; xidNext: number }> => {
    const { rows } = await db.query<{ xact: string; xid: string }>(
      "select (select xact_commit from pg_stat_database where datname = current_database())::text as xact, pg_snapshot_xmax(pg_current_snapshot())::text as xid",
    );
    return { xactCommit: Number(rows[0]!.xact), xidNext: Number(rows[0]!.xid) };
  };
  const deadline = Date.now() + maxMs;
  let queries = 1;
  let last = await read();
  let stableSince = Date.now();
  while (Date.now() < deadline && Date.now() - stableSince < 1500) {
    await sleep(250);
    const next = await read();
    queries++;
    if (next.xactCommit !== last.xactCommit) stableSince = Date.now();
    last = next;
  }
  return { ...last, queries };
}

/**
 * Commits (`xact_commit`, every transaction that committed, reads included) and write transactions (transaction ids
 * used) per completed task over a whole batch, from settled counters before and after it. Counts everything the
 * system did meanwhile (heartbeats, polls), minus the bench's own sampling queries.
 */
function commitsPerTask(
  before: { xactCommit: number; xidNext: number },
  after: { xactCommit: number; xidNext: number; queries: number },
  ownQueries: number,
  tasks: number,
): { commits: number; writes: number } {
  if (tasks <= 0) return { commits: Number.NaN, writes: Number.NaN };
  return { commits: (after.xactCommit - before.xactCommit - ownQueries - after.queries) / tasks, writes: (after.xidNext - before.xidNext) / tasks };
}

// ---------------------------------------------------------------------------------------------------------------
// the metrics

/**
 * A peer measured between Baton's repetitions of metrics 1 and 2, alternating which of the two goes first in each
 * repetition, so that a drift of the machine's speed over minutes favours neither. `peer` settles Postgres and measures
 * one repetition of the peer; `baton` gives Baton's repetition the same ({@link settlePostgres}) before it. While one
 * system is measured the other idles, alive (its CPU meanwhile is reported).
 */
interface Interleave {
  /** settles Postgres, re-warms the peer and measures its repetition `rep` of `phase` */
  peer(phase: "one" | "twenty", rep: number): Promise<void>;
  /** settles Postgres, then runs Baton's repetition `measure` (which re-warms Baton first, see measureRuns) */
  baton(measure: () => Promise<void>): Promise<void>;
  /** after metrics 2 and 3: the peer is stopped (metrics 4 to 7 are Baton's alone) */
  done(): Promise<void>;
}

/** Runs Baton's repetition `rep` of a metric (`baton`), and the peer's (if any) before or after it in turn. */
async function interleaved(interleave: Interleave | undefined, phase: "one" | "twenty", rep: number, baton: () => Promise<void>): Promise<void> {
  const peerFirst = rep % 2 === 0;
  if (interleave && peerFirst) await interleave.peer(phase, rep);
  await (interleave ? interleave.baton(baton) : baton());
  if (interleave && !peerFirst) await interleave.peer(phase, rep);
}

async function measureRuns(
  stack: Stack,
  sizes: Sizes,
  pgStatStatements: boolean,
  interleave?: Interleave,
): Promise<{ runsPerS: number[]; cpuMsPerRun: Record<string, number>; statements: unknown }> {
  let statements: unknown;
  const results: number[] = [];
  const cpuMs: Record<string, number[]> = {};
  // warm-up: connections, JIT, plans (as many as DBOS gets)
  await runBatch(stack, { jobSlug: BENCH_JOBS.one, event: BENCH_EVENTS.one, count: sizes.warmup, clientConcurrency: sizes.concurrency, timeoutMs: 600_000, label: "warm-up" });
  for (let rep = 0; rep < sizes.reps; rep++) await interleaved(interleave, "one", rep, async () => {
    if (interleave) {
      await runBatch(stack, { jobSlug: BENCH_JOBS.one, event: BENCH_EVENTS.one, count: sizes.rewarmOne, clientConcurrency: sizes.concurrency, timeoutMs: 600_000, label: "re-warm" });
    }
    if (rep === 0 && pgStatStatements) await stack.db.query("select pg_stat_statements_reset()");
    const cpuBefore = await cpuSplit(stack);
    const { seconds } = await runBatch(stack, {
      jobSlug: BENCH_JOBS.one,
      event: BENCH_EVENTS.one,
      count: sizes.runsOne,
      clientConcurrency: sizes.concurrency,
      timeoutMs: 600_000,
      label: `runs/s rep ${rep + 1}/${sizes.reps}`,
    });
    const cpuAfter = await cpuSplit(stack);
    if (rep === 0 && pgStatStatements) statements = await topStatements(stack.db);
    const split = Object.fromEntries(
      Object.entries(cpuAfter).map(([k, v]) => [k, ((v - cpuBefore[k as keyof typeof cpuBefore]) * 1000) / sizes.runsOne]),
    );
    for (const [k, v] of Object.entries(split)) (cpuMs[k] ??= []).push(v);
    results.push(sizes.runsOne / seconds);
    progress(
      `runs/s rep ${rep + 1}: ${(sizes.runsOne / seconds).toFixed(1)} (${sizes.runsOne} one-task runs in ${seconds.toFixed(2)} s); ` +
        `CPU ms per run: ${Object.entries(split)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(", ")}`,
    );
  });
  return { runsPerS: results, cpuMsPerRun: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, round(median(v), 2)])), statements };
}

async function measureSteps(
  stack: Stack,
  sizes: Sizes,
  pgStatStatements: boolean,
  interleave?: Interleave,
): Promise<{ stepsPerS: number[]; commits: number[]; writes: number[]; statements: unknown }> {
  const stepsPerS: number[] = [];
  const commits: number[] = [];
  const writes: number[] = [];
  let statements: unknown;
  for (let rep = 0; rep < sizes.reps; rep++) await interleaved(interleave, "twenty", rep, async () => {
    if (rep === 0 && pgStatStatements) await stack.db.query("select pg_stat_statements_reset()");
    const settleMs = sizes.runsTwenty <= 5 ? 3_000 : 12_000;
    const counters = await settledCounters(stack.db, settleMs);
    // the re-warm (interleaved) goes right before the measured batch, with no pause for the counters between them (DBOS
    // gets none either): commits per task are counted over both batches, the same work
    let ownQueries = 0;
    let rewarmTasks = 0;
    if (interleave) {
      const rewarm = await runBatch(stack, { jobSlug: BENCH_JOBS.twenty, event: BENCH_EVENTS.twenty, count: sizes.rewarmTwenty, clientConcurrency: sizes.concurrency, timeoutMs: 600_000, label: "re-warm", withTasks: true });
      ownQueries += rewarm.samples.length + 1;
      rewarmTasks = sizes.rewarmTwenty * TWENTY;
    }
    const { seconds, samples } = await runBatch(stack, {
      jobSlug: BENCH_JOBS.twenty,
      event: BENCH_EVENTS.twenty,
      count: sizes.runsTwenty,
      clientConcurrency: sizes.concurrency,
      timeoutMs: 600_000,
      label: `steps/s rep ${rep + 1}/${sizes.reps}`,
      withTasks: true,
    });
    if (rep === 0 && pgStatStatements) statements = await topStatements(stack.db);
    const tasks = sizes.runsTwenty * TWENTY;
    stepsPerS.push(tasks / seconds);
    // the batches' own sampling (runBatch reads counts first and at each tick) is subtracted, as are the settling reads
    ownQueries += samples.length + 1;
    const c = commitsPerTask(counters, await settledCounters(stack.db, settleMs), ownQueries, tasks + rewarmTasks);
    commits.push(c.commits);
    writes.push(c.writes);
    progress(
      `steps/s rep ${rep + 1}: ${(tasks / seconds).toFixed(1)} (${tasks} tasks in ${seconds.toFixed(2)} s); ` +
        `${c.commits.toFixed(2)} commits/task, ${c.writes.toFixed(2)} write transactions/task`,
    );
  });
  return { stepsPerS, commits, writes, statements };
}

async function topStatements(db: pg.Pool): Promise<unknown> {
  const { rows } = await db.query<{ query: string; calls: string; total_ms: number; mean_ms: number; rows: string }>(
    `select regexp_replace(query, '\\s+', ' ', 'g') as query, calls::text, round(total_exec_time::numeric, 1)::float8 as total_ms,
            round(mean_exec_time::numeric, 3)::float8 as mean_ms, rows::text
     from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
     order by total_exec_time desc limit 15`,
  );
  return rows.map((r) => ({ ...r, query: r.query.slice(0, 400) }));
}

/**
 * Start latency at light load (one event at a time), in ms from the event's acceptance (its first event) to: the
 * run's `run.started` (`claim`: the issue's metric; 0 when the run is claimed in its creation commit) and the moment
 * the endpoint started the run's first task (`firstTask`: what a user sees, one HTTP hop later).
 */
async function measureLatency(stack: Stack, sizes: Sizes): Promise<{ claim: number[]; firstTask: number[] }> {
  const tag = randomBytes(4).toString("hex");
  for (let i = 0; i < sizes.latencySamples; i++) {
    const id = `lat-${tag}-${i}`;
    await sendEvent(stack, BENCH_EVENTS.one, { i }, id);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await stack.db.query<{ status: string }>(
        `select r.status from baton.runs r join baton.event_records e on e.id = r.event_record_id where e.event_id = $1`,
        [id],
      );
      if (rows[0]?.status === "SUCCESS") break;
      if (rows[0] && TERMINAL_BAD.includes(rows[0].status)) throw new Error(`latency run ${id} ended ${rows[0].status}`);
      if (Date.now() > deadline) throw new Error(`latency run ${id} did not finish in 30 s`);
      await sleep(5);
    }
    await sleep(20); // light load: let the system settle between events
  }
  const { rows } = await stack.db.query<{ ms: number; task_ms: number }>(
    `select extract(epoch from (
        (select min(x.occurred_at) from baton.events x where x.stream_id = r.id and x.type = 'run.started')
      - (select min(x.occurred_at) from baton.events x where x.stream_id = r.event_record_id))) * 1000 as ms,
       extract(epoch from (
        (select min(t.started_at) from baton.tasks t where t.run_id = r.id)
      - (select min(x.occurred_at) from baton.events x where x.stream_id = r.event_record_id))) * 1000 as task_ms
     from baton.runs r join baton.event_records e on e.id = r.event_record_id
     where e.event_id like $1`,
    [`lat-${tag}-%`],
  );
  return { claim: rows.map((r) => Number(r.ms)), firstTask: rows.map((r) => Number(r.task_ms)) };
}

async function sendBulkEvents(stack: Stack, count: number, batch: number, concurrency: number, make: (i: number) => unknown): Promise<void> {
  const batches = Math.ceil(count / batch);
  await drive(batches, concurrency, (b) =>
    sendBulk(
      stack,
      Array.from({ length: Math.min(batch, count - b * batch) }, (_, k) => make(b * batch + k)),
    ),
  );
}

async function measureWaitPrecision(stack: Stack, sizes: Sizes): Promise<number[]> {
  const base = await jobCounts(stack, BENCH_JOBS.wait);
  const startedAt = Date.now();
  await sendBulkEvents(stack, sizes.waitRuns, 100, 2, (i) => ({ name: BENCH_EVENTS.wait, payload: { seconds: 1, i } }));
  let lastPrint = 0;
  for (;;) {
    await sleep(200);
    const c = await jobCounts(stack, BENCH_JOBS.wait);
    if (c.bad > base.bad) throw new Error(`wait run failed: ${await describeFailure(stack, BENCH_JOBS.wait)}`);
    if (c.ok - base.ok >= sizes.waitRuns) break;
    if (Date.now() - startedAt > 300_000) throw new Error(`wait precision: only ${c.ok - base.ok}/${sizes.waitRuns} runs done in 300 s`);
    if (Date.now() - lastPrint > 2000) {
      lastPrint = Date.now();
      progress(`wait precision: ${c.ok - base.ok}/${sizes.waitRuns} runs resumed and done`);
    }
  }
  const { rows } = await stack.db.query<{ ms: string | number | null }>(
    `select extract(epoch from (
        (select min(x.occurred_at) from baton.events x where x.stream_id = r.id and x.type = 'run.resumed')
      - (select (x.data->>'delayUntil')::timestamptz from baton.events x
         where x.stream_id = r.id and x.type = 'task.created' and x.data->>'delayUntil' is not null order by x.version limit 1))) * 1000 as ms
     from baton.runs r where r.job_slug = $1 and r.status = 'SUCCESS'`,
    [BENCH_JOBS.wait],
  );
  const missing = rows.filter((r) => r.ms === null).length;
  // a run that ended without a run.resumed event was never suspended: it says nothing about timers, and is not 0 ms late
  if (missing > 0) progress(`wait precision: ${missing} run(s) never suspended (no run.resumed), left out`);
  return rows.filter((r) => r.ms !== null).map((r) => Number(r.ms));
}

async function measureIngest(stack: Stack, sizes: Sizes): Promise<{ single: number; bulk: number; cpuUsPerEvent: Record<string, number> }> {
  // warm-up
  await drive(Math.min(100, sizes.ingestSingle), 8, (i) => sendEvent(stack, BENCH_EVENTS.none, { i }));
  let started = performance.now();
  await postEvents(stack, BENCH_EVENTS.none, sizes.ingestSingle, sizes.concurrency);
  const single = sizes.ingestSingle / ((performance.now() - started) / 1000);
  progress(`ingest single: ${single.toFixed(0)} events/s`);
  const cpuBefore = await cpuSplit(stack);
  started = performance.now();
  await sendBulkEvents(stack, sizes.ingestBulk, sizes.bulkBatch, 4, (i) => ({ name: BENCH_EVENTS.none, payload: { i } }));
  const bulk = sizes.ingestBulk / ((performance.now() - started) / 1000);
  const cpuAfter = await cpuSplit(stack);
  const cpuUsPerEvent = Object.fromEntries(
    Object.entries(cpuAfter).map(([k, v]) => [k, round(((v - cpuBefore[k as keyof typeof cpuBefore]) * 1e6) / sizes.ingestBulk)]),
  );
  progress(`ingest bulk (${sizes.bulkBatch}/request): ${bulk.toFixed(0)} events/s; CPU µs per event: ${JSON.stringify(cpuUsPerEvent)}`);
  return { single, bulk, cpuUsPerEvent };
}

async function measureRss(
  stack: Stack,
  sizes: Sizes,
): Promise<{
  idle: number;
  waiting: number;
  count: number;
  memory: Record<string, unknown> | undefined;
  memoryIdle: Record<string, unknown> | undefined;
  cpu: number;
}> {
  const idle = rssMb(stack.server.pid);
  const cpuBefore = cpuSeconds(stack.server.pid);
  const memoryIdle = await memoryBreakdown(stack.server);
  if (memoryIdle) progress(`memory: server RSS ${idle.toFixed(1)} MB before; by kind (MB, after a GC): ${JSON.stringify(memoryIdle)}`);
  const startedAt = Date.now();
  await sendBulkEvents(stack, sizes.waitingForRss, 500, 2, (i) => ({ name: BENCH_EVENTS.wait, payload: { seconds: 3600, i } }));
  let lastPrint = 0;
  for (;;) {
    await sleep(250);
    const { rows } = await stack.db.query<{ n: string }>(
      "select count(*) as n from baton.runs where job_slug = $1 and status = 'WAITING_TO_CONTINUE'",
      [BENCH_JOBS.wait],
    );
    const n = Number(rows[0]!.n);
    if (n >= sizes.waitingForRss) break;
    if (Date.now() - startedAt > 900_000) throw new Error(`only ${n}/${sizes.waitingForRss} runs waiting after 900 s`);
    if (Date.now() - lastPrint > 3000) {
      lastPrint = Date.now();
      progress(`memory: ${n}/${sizes.waitingForRss} runs waiting, server RSS ${rssMb(stack.server.pid).toFixed(0)} MB`);
    }
  }
  await sleep(1000);
  const waiting = rssMb(stack.server.pid);
  const cpu = cpuSeconds(stack.server.pid) - cpuBefore;
  progress(`memory: the server used ${cpu.toFixed(1)} CPU seconds to get ${sizes.waitingForRss} runs waiting`);
  const memory = await memoryBreakdown(stack.server);
  if (memory) progress(`memory: server RSS ${waiting.toFixed(1)} MB with ${sizes.waitingForRss} runs waiting; by kind (MB, after a GC): ${JSON.stringify(memory)}`);
  return { idle, waiting, count: sizes.waitingForRss, memory, memoryIdle, cpu };
}

/**
 * Where the server's memory goes: the memory probe's answer (V8 heap, code, external, malloc, after a full GC; see
 * `bench/memory-probe.mjs`) and the kernel's view (anonymous vs file-backed resident pages, threads).
 */
async function memoryBreakdown(server: Child): Promise<Record<string, unknown> | undefined> {
  const kernel: Record<string, number> = {};
  try {
    const rollup = readFileSync(`/proc/${server.pid}/smaps_rollup`, "utf8");
    for (const key of ["Rss", "Anonymous", "Pss_File", "Shared_Clean", "Private_Clean", "Private_Dirty"]) {
      const kb = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1];
      if (kb) kernel[key] = round(Number(kb) / 1024);
    }
    const threads = /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1];
    if (threads) kernel["threads"] = Number(threads);
  } catch {
    // not Linux
  }
  const seq = ++probeSeq;
  const answer = server.waitForLine((l) => l.includes('"memoryProbe"') && l.includes(`"seq":${seq},`), 10_000);
  server.proc.kill("SIGUSR2");
  try {
    const { memoryProbe } = JSON.parse(await answer) as { memoryProbe: Record<string, unknown> };
    return { kernel, ...memoryProbe };
  } catch {
    return Object.keys(kernel).length ? { kernel } : undefined;
  }
}
let probeSeq = 0;

/** Metrics 1 to 6 (everything but memory), written into `results`. */
async function measureThroughput(
  stack: Stack,
  sizes: Sizes,
  pgStatStatements: boolean,
  results: Record<string, unknown>,
  only?: Only,
  interleave?: Interleave,
): Promise<void> {
  if (only === "wait") {
    progress(`5. wait precision (${sizes.waitRuns} runs doing io.wait 1 s)`);
    const lateness = await measureWaitPrecision(stack, sizes);
    results["wait_lateness_ms_p50"] = round(percentile(lateness, 50), 1);
    results["wait_lateness_ms_p99"] = round(percentile(lateness, 99), 1);
    results["wait_lateness_ms_max"] = round(Math.max(...lateness), 1);
    return;
  }
  if (only === "ingest") {
    progress("6. ingest (no matching job)");
    const ingest = await measureIngest(stack, sizes);
    results["ingest_events_per_s"] = round(ingest.bulk);
    results["ingest_single_events_per_s"] = round(ingest.single);
    results["cpu_us_per_event_bulk"] = ingest.cpuUsPerEvent;
    return;
  }
  progress("1. runs/s");
  const runs = await measureRuns(stack, sizes, pgStatStatements, interleave);
  results["runs_per_s"] = round(median(runs.runsPerS));
  results["runs_per_s_reps"] = runs.runsPerS.map((v) => round(v));
  // CPU per one-task run by process (ticks of 10 ms, so read it over a batch of hundreds of runs)
  results["cpu_ms_per_run"] = runs.cpuMsPerRun;
  if (runs.statements) results["pg_stat_statements_runs_phase"] = runs.statements;
  if (only === "runs") return;

  progress("2. steps/s and 3. commits per task");
  const steps = await measureSteps(stack, sizes, pgStatStatements, interleave);
  await interleave?.done();
  results["steps_per_s"] = round(median(steps.stepsPerS));
  results["steps_per_s_reps"] = steps.stepsPerS.map((v) => round(v));
  results["commits_per_task"] = round(median(steps.commits), 3);
  results["write_xacts_per_task"] = round(median(steps.writes), 3);
  if (steps.statements) results["pg_stat_statements_steps_phase"] = steps.statements;

  progress("4. start latency (one event at a time)");
  const latency = await measureLatency(stack, sizes);
  results["start_latency_ms_p50"] = round(percentile(latency.claim, 50), 2);
  results["start_latency_ms_p99"] = round(percentile(latency.claim, 99), 2);
  results["first_task_latency_ms_p50"] = round(percentile(latency.firstTask, 50), 2);
  results["first_task_latency_ms_p99"] = round(percentile(latency.firstTask, 99), 2);

  progress(`5. wait precision (${sizes.waitRuns} runs doing io.wait 1 s)`);
  const lateness = await measureWaitPrecision(stack, sizes);
  results["wait_lateness_ms_p50"] = round(percentile(lateness, 50), 1);
  results["wait_lateness_ms_p99"] = round(percentile(lateness, 99), 1);
  results["wait_lateness_ms_max"] = round(Math.max(...lateness), 1);

  progress("6. ingest (no matching job)");
  const ingest = await measureIngest(stack, sizes);
  results["ingest_events_per_s"] = round(ingest.bulk);
  results["ingest_single_events_per_s"] = round(ingest.single);
  results["cpu_us_per_event_bulk"] = ingest.cpuUsPerEvent;
}

// ---------------------------------------------------------------------------------------------------------------
// peers

/**
 * Leaves Postgres as the next measured system should find it: the previous phase's dead rows vacuumed and its dirty
 * pages written (`VACUUM (ANALYZE)` in each of `urls`' databases, then one `CHECKPOINT`). Without it, whoever is
 * measured next pays for the previous phase's garbage: autovacuum and a checkpoint start during its measurement (each
 * repetition comes right after the other system's thousands of rows; DBOS's warm-up right after graphile's jobs). Run
 * before each measured repetition of metrics 1 and 2, the same for both systems.
 */
async function settlePostgres(urls: readonly string[]): Promise<void> {
  if (process.env["BENCH_NO_SETTLE"]) return;
  const started = Date.now();
  for (const [i, url] of urls.entries()) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query("vacuum (analyze)");
      // one checkpoint writes every database's dirty pages
      if (i === urls.length - 1) await c.query("checkpoint");
    } finally {
      await c.end();
    }
  }
  progress(`Postgres settled for the next phase (vacuum, checkpoint) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * A database of its own for DBOS on the bench's Postgres server (`baton_bench_dbos_<random>`), so that Baton's counters
 * (`xact_commit` for commits per task, `pg_stat_statements`) never count DBOS's work while the two are interleaved.
 * Where a database cannot be created (an external server without the right), DBOS shares the bench's database.
 * @returns the URL DBOS gets, and `drop` (removes the database this created; a no-op when shared)
 */
async function createPeerDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const scratch = await createScratchDatabase(url, "baton_bench_dbos");
  if (!("error" in scratch)) return scratch;
  progress(`could not create a database for DBOS (${scratch.error.message}); DBOS shares the bench's database`);
  return { url, drop: async () => undefined };
}

/** The DBOS peer process (`scripts/bench/dbos.ts`), launched and warmed up, measured one repetition at a time. */
interface DbosPeer {
  readonly pid: number;
  /**
   * One repetition: one-step workflows/s (`one`) or steps/s of 20-step workflows (`twenty`); `count` workflows instead
   * of the repetition's size (a re-warm). @throws when DBOS fails
   */
  measure(phase: "one" | "twenty", count?: number): Promise<number>;
  /** Shuts DBOS down (it exits). */
  stop(): Promise<void>;
}

/**
 * Starts the DBOS peer on `pgUrl` with `sizes.warmup` one-step workflows of warm-up (what Baton gets).
 * @throws when it does not get ready within 15 minutes (the error carries its last output)
 */
async function startDbos(pgUrl: string, sizes: Sizes): Promise<DbosPeer> {
  const child = spawnTsx(
    "dbos",
    "scripts/bench/dbos.ts",
    {
      BENCH_ROLE: "dbos",
      DBOS_DATABASE_URL: pgUrl,
      BENCH_CONCURRENCY: String(sizes.concurrency),
      BENCH_DBOS_ONE: String(sizes.dbosOne),
      BENCH_DBOS_WARMUP: String(sizes.warmup),
      BENCH_DBOS_TWENTY: String(sizes.dbosTwenty),
    },
    [],
    { stdin: true },
  );
  try {
    await child.waitForLine((l) => l.startsWith('{"ready"'), 900_000);
  } catch (error) {
    await child.stop();
    throw error;
  }
  let seq = 0;
  return {
    pid: child.pid,
    async measure(phase, count) {
      const n = ++seq;
      child.proc.stdin!.write(`${JSON.stringify({ cmd: phase, seq: n, ...(count !== undefined ? { count } : {}) })}\n`);
      const line = await child.waitForLine((l) => l.startsWith(`{"seq":${n},`), 900_000);
      const m = JSON.parse(line) as { error?: string; workflows: number; steps: number; seconds: number };
      if (m.error) throw new Error(`DBOS: ${m.error}`);
      return (phase === "one" ? m.workflows : m.steps) / m.seconds;
    },
    async stop() {
      child.proc.stdin!.end(`${JSON.stringify({ cmd: "stop" })}\n`);
      await child.waitForLine((l) => l.startsWith('{"done"'), 60_000).catch(() => undefined);
      await child.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** The metrics `--only` can measure alone. */
const ONLY = ["runs", "ingest", "wait"] as const;
type Only = (typeof ONLY)[number];

interface Args {
  mode: Mode;
  profile: boolean;
  peers: boolean;
  out: string;
  rssOnly: boolean;
  waiting: number | undefined;
  settleS: number;
  only: Only | undefined;
  runs: number | undefined;
  concurrency: number | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const mode: Mode = argv.includes("--smoke") ? "smoke" : argv.includes("--quick") ? "quick" : "full";
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const outArg = value("--out");
  const out = outArg ? path.resolve(outArg) : path.join(ROOT, "bench-results", "latest.json");
  const waitingArg = value("--waiting");
  const waiting = waitingArg === undefined ? undefined : Number(waitingArg);
  if (waiting !== undefined && !(Number.isInteger(waiting) && waiting > 0)) throw new Error(`--waiting needs a positive integer, got ${waitingArg}`);
  const settleS = Number(value("--settle") ?? 0);
  if (!(Number.isFinite(settleS) && settleS >= 0)) throw new Error(`--settle needs seconds, got ${value("--settle")}`);
  const rssOnly = argv.includes("--rss-only");
  const onlyArg = value("--only");
  if (onlyArg !== undefined && !(ONLY as readonly string[]).includes(onlyArg)) throw new Error(`--only takes ${ONLY.map((o) => `"${o}"`).join(", ")}, got ${onlyArg}`);
  const only = onlyArg as Only | undefined;
  const runsArg = value("--runs");
  const runs = runsArg === undefined ? undefined : Number(runsArg);
  if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs needs a positive integer, got ${runsArg}`);
  const concurrencyArg = value("--concurrency");
  const concurrency = concurrencyArg === undefined ? undefined : Number(concurrencyArg);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) throw new Error(`--concurrency needs a positive integer, got ${concurrencyArg}`);
  const peers = !argv.includes("--no-peers") && !rssOnly && !only;
  return { mode, profile: argv.includes("--profile"), peers, out, rssOnly, waiting, settleS, only, runs, concurrency };
}

function table(results: Record<string, unknown>): string {
  const n = (k: string): number => results[k] as number;
  const f = (v: number, d = 0): string => (Number.isFinite(v) ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
  const rows: Array<[string, string, string, string, string]> = [
    ["metric", "Baton", "DBOS", "ratio", "target"],
    ["runs/s (one-task runs to SUCCESS)", f(n("runs_per_s"), 1), f(n("dbos_runs_per_s"), 1), f(n("ratio_runs_vs_dbos"), 2), "ratio >= 3"],
    ["steps/s (20 sequential tasks)", f(n("steps_per_s"), 1), f(n("dbos_steps_per_s"), 1), f(n("ratio_steps_vs_dbos"), 2), "ratio >= 3"],
    ["commits per new task (xact_commit)", f(n("commits_per_task"), 2), "", "", "<= 1.0"],
    ["  write transactions per task", f(n("write_xacts_per_task"), 2), "", "", ""],
    ["start latency p50 / p99 (ms)", `${f(n("start_latency_ms_p50"), 1)} / ${f(n("start_latency_ms_p99"), 1)}`, "", "", "p50 <= 5"],
    ["  accepted -> first task on the endpoint", `${f(n("first_task_latency_ms_p50"), 1)} / ${f(n("first_task_latency_ms_p99"), 1)}`, "", "", ""],
    ["wait lateness p50 / p99 (ms)", `${f(n("wait_lateness_ms_p50"), 1)} / ${f(n("wait_lateness_ms_p99"), 1)}`, "", "", "p99 <= 50"],
    ["ingest events/s bulk", f(n("ingest_events_per_s")), "", "", ">= 5,000"],
    ["ingest events/s single POST", f(n("ingest_single_events_per_s")), "", "", ""],
    [`server RSS MB, ${f(n("rss_waiting_runs"))} runs waiting`, f(n("rss_mb_10k_waiting"), 1), "", "", "<= 200 (10k)"],
    ["  server RSS MB before", f(n("rss_mb_idle"), 1), "", "", ""],
    ["graphile-worker no-op jobs/s (batched)", f(n("graphile_jobs_per_s")), "", "", "floor"],
    ["graphile-worker no-op jobs/s (default)", f(n("graphile_jobs_per_s_unbatched")), "", "", ""],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sizes: Sizes = {
    ...SIZES[args.mode],
    ...(args.waiting ? { waitingForRss: args.waiting } : {}),
    ...(args.runs ? { runsOne: args.runs, warmup: args.runs } : {}),
    ...(args.concurrency ? { concurrency: args.concurrency } : {}),
  };
  progress(`mode ${args.mode}${args.rssOnly ? " (server RSS only)" : ""}${args.profile ? " with profiles" : ""}; ${os.cpus().length} CPUs, Node ${process.version}`);
  const postgres = await startBenchPostgres(progress);
  let stack: Stack | undefined;
  const results: Record<string, unknown> = { mode: args.mode, started_at: new Date().toISOString(), cpus: os.cpus().length, node: process.version, postgres: postgres.kind };
  const notes: string[] = [];
  let peerDb: { url: string; drop(): Promise<void> } | undefined;
  let dbos: DbosPeer | undefined;
  const dbosRuns: number[] = [];
  const dbosSteps: number[] = [];
  // every database the measured systems use (Baton's, DBOS's when it has its own)
  const databases = (): string[] => [...new Set([postgres.url, ...(peerDb ? [peerDb.url] : [])])];
  // DBOS is stopped (and waited for) before anything else is measured: a DBOS still shutting down would load the
  // machine during Baton's next repetition
  const dbosFailed = async (error: unknown): Promise<void> => {
    const message = error instanceof Error ? error.message : String(error);
    notes.push(`DBOS failed: ${message}`);
    progress(`DBOS failed: ${message}`);
    const failed = dbos;
    dbos = undefined;
    await failed?.stop().catch(() => undefined);
  };
  try {
    // the peers start first, while Baton is not running: graphile-worker measured alone, DBOS launched and warmed up
    if (args.peers) {
      progress("graphile-worker: raw no-op jobs");
      const batched: number[] = [];
      const plain: number[] = [];
      for (let rep = 0; rep < sizes.reps; rep++) {
        batched.push(await graphileNoopJobsPerSecond(postgres.url, { count: sizes.graphileJobs, concurrency: sizes.concurrency, batched: true }));
        plain.push(await graphileNoopJobsPerSecond(postgres.url, { count: Math.ceil(sizes.graphileJobs / 5), concurrency: sizes.concurrency, batched: false }));
        progress(`graphile-worker rep ${rep + 1}: ${batched.at(-1)!.toFixed(0)} jobs/s batched, ${plain.at(-1)!.toFixed(0)} default`);
      }
      results["graphile_jobs_per_s"] = round(median(batched));
      results["graphile_jobs_per_s_unbatched"] = round(median(plain));
      peerDb = await createPeerDatabase(postgres.url);
      await settlePostgres(databases());
      progress(`DBOS: launch and warm-up (${sizes.warmup} one-step workflows)`);
      results["dbos_version"] = dbosVersion();
      try {
        dbos = await startDbos(peerDb.url, sizes);
      } catch (error) {
        await dbosFailed(error);
      }
    } else {
      results["graphile_jobs_per_s"] = Number.NaN;
      results["graphile_jobs_per_s_unbatched"] = Number.NaN;
    }

    if (args.peers) await settlePostgres(databases());
    progress("starting the Baton server and the endpoint (separate processes)");
    stack = await startStack(postgres.url, sizes, args.profile);
    results["concurrency"] = sizes.concurrency;
    const batonStack = stack;
    // the idle system's CPU while the other is measured (CPU seconds, wall seconds)
    const idle = { batonCpu: 0, batonWall: 0, dbosCpu: 0, dbosWall: 0 };
    const batonCpu = (): number => cpuSeconds(batonStack.server.pid) + cpuSeconds(batonStack.endpoint.pid);
    const interleave: Interleave | undefined = dbos && {
      async peer(phase, rep) {
        if (!dbos) return;
        await settlePostgres(databases());
        const cpu = batonCpu();
        const started = performance.now();
        try {
          await dbos.measure(phase, phase === "one" ? sizes.rewarmOne : sizes.rewarmTwenty);
          const rate = await dbos.measure(phase);
          (phase === "one" ? dbosRuns : dbosSteps).push(rate);
          progress(`DBOS ${phase === "one" ? "one-step" : "20-step"} rep ${rep + 1}: ${rate.toFixed(1)} ${phase === "one" ? "workflows/s" : "steps/s"}`);
        } catch (error) {
          await dbosFailed(error);
          return;
        }
        idle.batonCpu += batonCpu() - cpu;
        idle.batonWall += (performance.now() - started) / 1000;
      },
      async baton(measure) {
        await settlePostgres(databases());
        const cpu = dbos ? cpuSeconds(dbos.pid) : Number.NaN;
        const started = performance.now();
        await measure();
        const used = dbos ? cpuSeconds(dbos.pid) - cpu : Number.NaN;
        // NaN when DBOS was gone before or after (its process is no longer there to read)
        if (!Number.isFinite(used)) return;
        idle.dbosCpu += used;
        idle.dbosWall += (performance.now() - started) / 1000;
      },
      async done() {
        await dbos?.stop();
        dbos = undefined;
      },
    };

    if (!args.rssOnly) await measureThroughput(stack, sizes, postgres.pgStatStatements, results, args.only, interleave);
    if (args.peers) {
      results["dbos_runs_per_s"] = round(median(dbosRuns));
      results["dbos_steps_per_s"] = round(median(dbosSteps));
      results["dbos_runs_per_s_reps"] = dbosRuns.map((v) => round(v));
      results["dbos_steps_per_s_reps"] = dbosSteps.map((v) => round(v));
      // CPU share of a core the idle system used while the other one was measured
      results["idle_cpu_share_baton_during_dbos"] = round(idle.batonCpu / idle.batonWall, 3);
      results["idle_cpu_share_dbos_during_baton"] = round(idle.dbosCpu / idle.dbosWall, 3);
    } else {
      results["dbos_runs_per_s"] = Number.NaN;
      results["dbos_steps_per_s"] = Number.NaN;
      results["dbos_runs_per_s_reps"] = [];
      results["dbos_steps_per_s_reps"] = [];
      results["idle_cpu_share_baton_during_dbos"] = Number.NaN;
      results["idle_cpu_share_dbos_during_baton"] = Number.NaN;
    }

    if (!args.only) {
      progress(`7. server RSS with ${sizes.waitingForRss} runs waiting`);
      const rss = await measureRss(stack, sizes);
      results["rss_mb_10k_waiting"] = round(rss.waiting);
      results["rss_mb_idle"] = round(rss.idle);
      results["rss_waiting_runs"] = rss.count;
      results["server_cpu_s_rss_phase"] = round(rss.cpu, 2);
      results["server_cpu_s"] = round(cpuSeconds(stack.server.pid), 2);
      if (rss.memory) results["server_memory_mb"] = rss.memory;
      if (rss.memoryIdle) results["server_memory_mb_idle"] = rss.memoryIdle;
      if (args.settleS > 0) {
        for (let waited = 0; waited < args.settleS; waited += 5) {
          await sleep(Math.min(5, args.settleS - waited) * 1000);
          progress(`memory: server RSS ${rssMb(stack.server.pid).toFixed(1)} MB, ${Math.min(waited + 5, args.settleS)} s after`);
        }
        results["rss_mb_waiting_settled"] = round(rssMb(stack.server.pid));
        results["rss_settle_s"] = args.settleS;
        progress(`memory: server RSS ${String(results["rss_mb_waiting_settled"])} MB after ${args.settleS} s more`);
      }
    }

    const ratio = (a: unknown, b: unknown): number => (typeof a === "number" && typeof b === "number" && b > 0 ? round(a / b, 2) : Number.NaN);
    results["ratio_runs_vs_dbos"] = ratio(results["runs_per_s"], results["dbos_runs_per_s"]);
    results["ratio_steps_vs_dbos"] = ratio(results["steps_per_s"], results["dbos_steps_per_s"]);
    // each repetition against the peer's repetition next to it (interleaved)
    const pairs = (ours: unknown, theirs: unknown): number[] =>
      Array.isArray(ours) && Array.isArray(theirs) ? ours.slice(0, theirs.length).map((v: unknown, i) => ratio(v, theirs[i])) : [];
    results["ratio_runs_vs_dbos_reps"] = pairs(results["runs_per_s_reps"], results["dbos_runs_per_s_reps"]);
    results["ratio_steps_vs_dbos_reps"] = pairs(results["steps_per_s_reps"], results["dbos_steps_per_s_reps"]);
  } finally {
    await dbos?.stop().catch(() => undefined);
    await peerDb?.drop().catch(() => undefined);
    if (stack) {
      await stack.db.end().catch(() => undefined);
      await Promise.all([stack.endpoint.stop(), stack.server.stop()]);
    }
    await postgres.stop().catch(() => undefined);
    await agent.destroy().catch(() => undefined);
  }
  if (notes.length) results["notes"] = notes;
  if (stack?.profileDir) {
    const summaries: Record<string, unknown> = {};
    for (const child of ["server", "endpoint"]) {
      const dir = path.join(stack.profileDir, child);
      // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread (the app itself)
      const main = existsSync(dir) ? readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)) : undefined;
      if (main) summaries[child] = { file: path.relative(ROOT, path.join(dir, main)), ...summarizeCpuProfile(path.join(dir, main), 15) };
    }
    results["cpu_profiles"] = summaries;
  }
  results["finished_at"] = new Date().toISOString();
  mkdirSync(path.dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nBaton benchmark (${args.mode}, ${sizes.concurrency} concurrent, median of ${sizes.reps}), Postgres ${postgres.kind}\n`);
  console.log(table(results));
  console.log(`\nwrote ${path.relative(process.cwd(), args.out)}`);
  for (const note of notes) console.log(`note: ${note}`);
}

function dbosVersion(): string | undefined {
  const file = path.join(ROOT, "node_modules", "@dbos-inc", "dbos-sdk", "package.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version : undefined;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("[bench] failed:", error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
