/**
 * `npm run server`: the Baton server alone (API + dispatcher) on `DATABASE_URL` or the embedded Postgres in
 * `.baton/pgdata`. SIGINT/SIGTERM drain gracefully, then stop the embedded Postgres; so does the exit of the npm
 * script that started it (see watchParentExit). With
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set, every ended run is exported as a trace over OTLP/HTTP (the only place the OTel
 * SDK is wired; the rest of the server uses `@opentelemetry/api`).
 */
import type { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { resolvePostgres } from "./db/postgres";
import { createLogger } from "./logger";
import { startedByNpmScript, watchParentExit } from "./parent-watch";
import { startServer } from "./server";
import { DeterministicIdGenerator } from "./telemetry/ids";

const log = createLogger(process.env.LOG_LEVEL ?? "info");
const postgres = await resolvePostgres({ log: (m) => log.info(m) });
/** The OTel SDK with the OTLP/HTTP exporter, loaded only when export is on (it is slow to import). */
async function otlpTracerProvider(): Promise<BasicTracerProvider> {
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BasicTracerProvider, BatchSpanProcessor }] = await Promise.all([
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
  ]);
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME || "baton" }),
    // span ids derived from run and task ids: a run exported twice keeps its ids
    idGenerator: new DeterministicIdGenerator(),
    // the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces) and OTEL_EXPORTER_OTLP_HEADERS itself
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
}
const tracerProvider = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? await otlpTracerProvider() : undefined;
if (tracerProvider) log.info({ endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT }, "exporting run traces over OTLP/HTTP");
let server: Awaited<ReturnType<typeof startServer>> | undefined;
try {
  server = await startServer({ connectionString: postgres.connectionString, logger: log, tracerProvider });
} catch (error) {
  log.fatal({ err: error }, "baton server failed to start");
  await postgres.stop();
  process.exit(1);
}
for (const slug of server.createdKeys) {
  // printed once, on the start that generated the key
  process.stdout.write(`\n  ${slug} API key (shown once, keep it): ${server.apiKeys[slug]}\n`);
}
process.stdout.write(`\n  Baton is running at ${server.url}  (dashboard: ${server.url}/login, health: ${server.url}/healthz, metrics: ${server.url}/metrics)\n\n`);

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  void (async () => {
    await server?.close();
    await tracerProvider?.shutdown().catch((error: unknown) => log.warn({ err: error }, "trace export flush failed"));
    await postgres.stop();
    process.exit(0);
  })();
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
if (startedByNpmScript()) watchParentExit(() => shutdown("parent exited"));
