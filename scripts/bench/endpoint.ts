/**
 * The benchmark's endpoint app, run by `scripts/bench.ts` as its own process (as a user's app would be): an
 * `@baton/sdk` client with the benchmark jobs, served on node:http. Prints one JSON line `{"url": ...}` when it
 * listens; SIGTERM closes it.
 *
 * Env: BATON_API_KEY, BATON_API_URL, BENCH_CLIENT_ID (default "bench-app").
 */
import { eventTrigger, TriggerClient } from "@baton/sdk";

/** Event names of the benchmark jobs. */
export const BENCH_EVENTS = {
  /** one task, then SUCCESS */
  one: "bench.one",
  /** 20 sequential tasks */
  twenty: "bench.twenty",
  /** `io.wait("w", payload.seconds)` */
  wait: "bench.wait",
  /** matches no job (ingest) */
  none: "bench.nomatch",
} as const;

/** Job ids (= `baton.runs.job_slug`). */
export const BENCH_JOBS = { one: "bench-one", twenty: "bench-twenty", wait: "bench-wait" } as const;

export const TWENTY = 20;

function defineBenchJobs(client: TriggerClient): void {
  client.defineJob({
    id: BENCH_JOBS.one,
    name: "Bench: one task",
    version: "1.0.0",
    trigger: eventTrigger({ name: BENCH_EVENTS.one }),
    run: async (_payload, io) => await io.runTask("t", async () => 1),
  });
  client.defineJob({
    id: BENCH_JOBS.twenty,
    name: "Bench: twenty sequential tasks",
    version: "1.0.0",
    trigger: eventTrigger({ name: BENCH_EVENTS.twenty }),
    run: async (_payload, io) => {
      let sum = 0;
      for (let i = 0; i < TWENTY; i++) sum += await io.runTask(`t${i}`, async () => i);
      return sum;
    },
  });
  client.defineJob({
    id: BENCH_JOBS.wait,
    name: "Bench: one wait",
    version: "1.0.0",
    trigger: eventTrigger({ name: BENCH_EVENTS.wait }),
    run: async (payload, io) => {
      const seconds = typeof (payload as { seconds?: unknown })?.seconds === "number" ? (payload as { seconds: number }).seconds : 1;
      await io.wait("w", seconds);
      return true;
    },
  });
}

async function main(): Promise<void> {
  const apiKey = process.env["BATON_API_KEY"];
  const apiUrl = process.env["BATON_API_URL"];
  if (!apiKey || !apiUrl) throw new Error("BATON_API_KEY and BATON_API_URL are required");
  const client = new TriggerClient({ id: process.env["BENCH_CLIENT_ID"] ?? "bench-app", apiKey, apiUrl });
  defineBenchJobs(client);
  const endpoint = await client.listen({ port: 0 });
  process.stdout.write(`${JSON.stringify({ url: endpoint.url, pid: process.pid })}\n`);
  const stop = (): void => {
    endpoint.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.env["BENCH_ROLE"] === "endpoint") {
  main().catch((error: unknown) => {
    console.error("[bench endpoint] failed:", error);
    process.exit(1);
  });
}
