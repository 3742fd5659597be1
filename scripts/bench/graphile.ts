/**
 * Raw graphile-worker no-op jobs/s: the floor of Baton's dispatcher. Runs in the bench process, in its own schema
 * (`graphile_bench`) so Baton's workers never see these jobs. The jobs are added first (one batched `addJobs`), then
 * a runner with `concurrency` workers drains them; the time is from runner start to the last job's completion.
 */
import { Logger, makeWorkerUtils, run, type Runner } from "graphile-worker";

export const GRAPHILE_BENCH_SCHEMA = "graphile_bench";

/** Drains `count` no-op jobs; `batched` turns on graphile's local queue and batched completion (0.17 features). */
export async function graphileNoopJobsPerSecond(
  connectionString: string,
  options: { count: number; concurrency: number; batched: boolean },
): Promise<number> {
  const preset = {
    worker: {
      connectionString,
      schema: GRAPHILE_BENCH_SCHEMA,
      concurrentJobs: options.concurrency,
      maxPoolSize: options.concurrency + 4,
      pollInterval: 1000,
      ...(options.batched ? { localQueue: { size: 500 }, completeJobBatchDelay: 0 } : {}),
    },
  };
  const utils = await makeWorkerUtils({ preset: { worker: { connectionString, schema: GRAPHILE_BENCH_SCHEMA } } });
  try {
    await utils.migrate();
    await utils.withPgClient((c) => c.query(`delete from ${GRAPHILE_BENCH_SCHEMA}._private_jobs`));
    for (let i = 0; i < options.count; i += 5000) {
      const n = Math.min(5000, options.count - i);
      await utils.addJobs(Array.from({ length: n }, (_, k) => ({ identifier: "bench_noop", payload: { i: i + k } })));
    }
  } finally {
    await utils.release();
  }
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const started = performance.now();
  let finished = 0;
  const runner: Runner = await run({
    preset,
    noHandleSignals: true,
    taskList: {
      bench_noop: async () => {
        if (++done === options.count) {
          finished = performance.now();
          resolveAll();
        }
      },
    },
    logger: new Logger(() => () => {}),
  });
  await all;
  await runner.stop();
  // completions are batched: make sure they reached the table
  return options.count / ((finished - started) / 1000);
}
