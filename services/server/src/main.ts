/**
 * `npm run server`: the Baton server alone (API + dispatcher) on `DATABASE_URL` or the embedded Postgres in
 * `.baton/pgdata`. SIGINT/SIGTERM drain gracefully, then stop the embedded Postgres.
 */
import { resolvePostgres } from "./db/postgres";
import { createLogger } from "./logger";
import { startServer } from "./server";

const log = createLogger(process.env.LOG_LEVEL ?? "info");
const postgres = await resolvePostgres({ log: (m) => log.info(m) });
let server: Awaited<ReturnType<typeof startServer>> | undefined;
try {
  server = await startServer({ connectionString: postgres.connectionString, logger: log });
} catch (error) {
  log.fatal({ err: error }, "baton server failed to start");
  await postgres.stop();
  process.exit(1);
}
for (const slug of server.createdKeys) {
  // printed once, on the start that generated the key
  process.stdout.write(`\n  ${slug} API key (shown once, keep it): ${server.apiKeys[slug]}\n`);
}
process.stdout.write(`\n  Baton is running at ${server.url}  (health: ${server.url}/healthz)\n\n`);

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  void (async () => {
    await server?.close();
    await postgres.stop();
    process.exit(0);
  })();
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
