/**
 * The DBOS peer of the benchmark, run by `scripts/bench.ts` in its own process on the same Postgres server: one-step
 * workflows and 20-step workflows (sequential steps), driven with `concurrency` workflows in flight.
 *
 * Driven over stdin, one repetition at a time, so the bench can interleave DBOS's repetitions with Baton's (both see
 * the same phases of a machine whose speed drifts over minutes). After launch and the warm-up it prints
 * `{"ready":true}`; then each stdin line is a command:
 * - `{"cmd":"one"|"twenty","seq":n}`: one repetition (`"count":k`: k workflows instead of the repetition's size);
 *   answers `{"seq":n,"phase":"one"|"twenty","workflows":n,"steps":n,"seconds":s}`;
 * - `{"cmd":"stop"}` (or stdin closing): shuts DBOS down and prints `{"done":true}`.
 * A command it cannot run is answered `{"seq":n,"error":"..."}` (a line that is not JSON: `{"error":"..."}`, with
 * no `seq` to answer; the bench sends none); a workflow that fails ends the process (exit code 1), which the bench
 * sees as the child's exit.
 *
 * Env: DBOS_DATABASE_URL (system database; DBOS keeps its tables in schema `dbos`), BENCH_CONCURRENCY,
 * BENCH_DBOS_ONE (workflows per repetition), BENCH_DBOS_WARMUP (one-step workflows first, not measured),
 * BENCH_DBOS_TWENTY, BENCH_DBOS_POOL.
 */
import { createInterface } from "node:readline";
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
  emit({ ready: true });
  // commands run one after another, in the order they came
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    let command: { cmd?: unknown; seq?: unknown; count?: unknown };
    try {
      command = JSON.parse(line) as typeof command;
    } catch {
      emit({ error: `not JSON: ${line.slice(0, 200)}` });
      continue;
    }
    if (command.cmd === "stop") break;
    const count = typeof command.count === "number" && Number.isInteger(command.count) && command.count > 0 ? command.count : undefined;
    if (command.count !== undefined && count === undefined) {
      emit({ seq: command.seq, error: `count must be a positive integer, got ${JSON.stringify(command.count)}` });
    } else if (command.cmd === "one") {
      const n = count ?? nOne;
      const seconds = await drive(n, concurrency, () => one());
      emit({ seq: command.seq, phase: "one", workflows: n, steps: n, seconds });
    } else if (command.cmd === "twenty") {
      const n = count ?? nTwenty;
      const seconds = await drive(n, concurrency, () => twenty());
      emit({ seq: command.seq, phase: "twenty", workflows: n, steps: n * STEPS, seconds });
    } else {
      emit({ seq: command.seq, error: `unknown command ${JSON.stringify(command.cmd)} (one, twenty or stop)` });
    }
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
