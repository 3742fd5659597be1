/**
 * The DBOS peer of the benchmark, run by `scripts/bench.ts` in its own process on the same Postgres: one-step
 * workflows and 20-step workflows (sequential steps), driven with `concurrency` workflows in flight.
 * Prints JSON lines: `{"phase":"one"|"twenty","rep":n,"workflows":n,"steps":n,"seconds":s}`, then `{"done":true}`.
 *
 * Env: DBOS_DATABASE_URL (system database; DBOS keeps its tables in schema `dbos`), BENCH_CONCURRENCY,
 * BENCH_DBOS_ONE (workflows per repetition), BENCH_DBOS_WARMUP (one-step workflows first, not measured),
 * BENCH_DBOS_TWENTY, BENCH_REPS, BENCH_DBOS_POOL.
 */
import { DBOS } from "@dbos-inc/dbos-sdk";

const STEPS = 20;

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight; returns the elapsed seconds. */
export async function drive(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const url = process.env["DBOS_DATABASE_URL"];
  if (!url) throw new Error("DBOS_DATABASE_URL is required");
  const concurrency = envInt("BENCH_CONCURRENCY", 32);
  const nOne = envInt("BENCH_DBOS_ONE", 1000);
  const nTwenty = envInt("BENCH_DBOS_TWENTY", 100);
  const reps = envInt("BENCH_REPS", 1);
  DBOS.setConfig({
    name: "baton-bench",
    systemDatabaseUrl: url,
    systemDatabasePoolSize: envInt("BENCH_DBOS_POOL", concurrency + 10),
    logLevel: "warning",
  });
  const one = DBOS.registerWorkflow(async () => await DBOS.runStep(async () => 1, { name: "t" }), { name: "benchOne" });
  const twenty = DBOS.registerWorkflow(
    async () => {
      let sum = 0;
      for (let i = 0; i < STEPS; i++) sum += await DBOS.runStep(async () => i, { name: `t${i}` });
      return sum;
    },
    { name: "benchTwenty" },
  );
  await DBOS.launch();
  const emit = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
  // warm-up: connections, prepared plans, JIT (as many as Baton gets)
  await drive(envInt("BENCH_DBOS_WARMUP", 100), concurrency, () => one());
  for (let rep = 0; rep < reps; rep++) {
    const s1 = await drive(nOne, concurrency, () => one());
    emit({ phase: "one", rep, workflows: nOne, steps: nOne, seconds: s1 });
    const s20 = await drive(nTwenty, concurrency, () => twenty());
    emit({ phase: "twenty", rep, workflows: nTwenty, steps: nTwenty * STEPS, seconds: s20 });
  }
  await DBOS.shutdown();
  emit({ done: true });
}

if (process.env["BENCH_ROLE"] === "dbos") {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error("[bench dbos] failed:", error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
}
