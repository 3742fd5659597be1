/**
 * `npm start`: Postgres (embedded in .baton/pgdata unless DATABASE_URL) + the Baton server + the example app, with its
 * endpoint registered; prints the dashboard URL, the dev API key (first start only) and a curl that triggers the
 * seed job. Ctrl-C stops the example app, the server, then Postgres, and exits 0.
 *
 * Settings: DATABASE_URL, PORT (default 3030), BATON_API_KEY, BATON_DEMO_WAIT_SECONDS (the new-user job's wait,
 * default 3 hours), BATON_MAIL_DIR (default .baton/mail), SMTP_URL (send real mail instead), LOG_LEVEL.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createExampleApp, WAIT_SECONDS, type ExampleApp } from "@baton/example";
import { migrate, resolvePostgres, startedByNpmScript, startServer, watchParentExit, type StartServerOptions } from "@baton/server";

/** Options of {@link startStack}. */
export interface StartStackOptions {
  /** HTTP port of the server. */
  readonly port: number;
  /** Data directory of the embedded Postgres (ignored with DATABASE_URL); default `.baton/pgdata`. */
  readonly pgDataDir?: string;
  /** Mail folder of the example's SMTP server; default BATON_MAIL_DIR, else `.baton/mail`. */
  readonly mailDir?: string;
  /** Server log level (pino); default LOG_LEVEL, else the server's default. */
  readonly logLevel?: StartServerOptions["logLevel"];
  /** One line per step. */
  readonly log: (message: string) => void;
}

/** Everything {@link startStack} started. */
export interface Stack {
  readonly server: Awaited<ReturnType<typeof startServer>>;
  readonly app: ExampleApp;
  readonly postgres: Awaited<ReturnType<typeof resolvePostgres>>;
  /** Stops the example app, the server, then Postgres (each even when an earlier one fails). Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts Postgres, applies migrations, starts the server and the example app (dev key), in that order; on a failure
 * stops what already started, then rethrows.
 */
export async function startStack(options: StartStackOptions): Promise<Stack> {
  const { log } = options;
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async (): Promise<void> => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`error while stopping ${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  try {
    if (!process.env["DATABASE_URL"]) log("starting embedded Postgres… (a few seconds more on the first start, which initialises it)");
    const postgres = await resolvePostgres({ log, ...(options.pgDataDir ? { dataDir: options.pgDataDir } : {}) });
    stops.push({ name: "Postgres", stop: postgres.stop });
    const { applied } = await migrate(postgres.connectionString);
    if (applied.length > 0) log(`applied ${applied.length} migration(s)`);
    const server = await startServer({
      connectionString: postgres.connectionString,
      port: options.port,
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    });
    stops.push({ name: "server", stop: server.close });
    const app = await createExampleApp({
      connectionString: postgres.connectionString,
      apiUrl: server.url,
      apiKey: server.apiKeys.dev,
      ...(options.mailDir ? { mailDir: options.mailDir } : {}),
    });
    stops.push({ name: "example app", stop: app.close });
    let closing: Promise<void> | undefined;
    return { server, app, postgres, close: () => (closing ??= stopAll()) };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** `3h`, `2s`, `1h 30m`: a wait as people read it. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const parts: string[] = [];
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  if (s) parts.push(`${s}s`);
  return parts.join(" ");
}

/** The welcome message of `npm start`. */
export function startBanner(stack: Stack): string {
  const { server, app } = stack;
  const keyKnown = server.createdKeys.includes("dev");
  const key = keyKnown ? server.apiKeys.dev : "$BATON_API_KEY";
  const lines = [
    "",
    "Baton is running.",
    "",
    `  Dashboard     ${server.url}/`,
    keyKnown
      ? `  Dev API key   ${server.apiKeys.dev}   (shown once: save it, e.g. export BATON_API_KEY=${server.apiKeys.dev})`
      : "  Dev API key   not shown: it was printed on the first start, or it is the value of BATON_API_KEY",
    `  Example app   ${app.url} (endpoint "example-app": jobs new-user, retry-demo, daily-digest)`,
    app.mailDir
      ? `  Mail          stored as .eml files in ${path.relative(process.cwd(), app.mailDir) || "."} (SMTP on 127.0.0.1:${app.smtpPort})`
      : "  Mail          sent through SMTP_URL",
    "",
    "Trigger the new-user job for a seeded user (user_1, user_2, user_3):",
    "",
    `  curl -X POST ${server.url}/api/v1/events \\`,
    `    -H "Authorization: Bearer ${key}" \\`,
    `    -H "Content-Type: application/json" \\`,
    `    -d '{"event":{"name":"new.user","payload":{"userId":"user_1"}}}'`,
    "",
    `The run sends the welcome email, waits ${formatSeconds(WAIT_SECONDS)} (BATON_DEMO_WAIT_SECONDS=<seconds> to shorten), then writes a welcome report.`,
    "Press Ctrl-C to stop; the next npm start finds the data again.",
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const log = (message: string): void => console.log(`[baton] ${message}`);
  const port = Number(process.env["PORT"] ?? 3030);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a TCP port number, got "${process.env["PORT"]}"`);
  const stack = await startStack({ port, log });
  console.log(startBanner(stack));

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals | "parent exited"): void => {
    if (stopping) {
      log(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    log(`${signal}: stopping the example app, the server, then Postgres…`);
    stack.close().then(
      () => {
        log("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  // `kill <npm's pid>` ends only the shell npm runs this under: stop as for SIGTERM once it is gone
  if (startedByNpmScript()) watchParentExit(() => shutdown("parent exited"));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error("[baton] failed to start:", error);
    process.exit(1);
  });
}
