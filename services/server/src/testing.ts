/**
 * Test harness (`@baton/server/testing`): a real Baton server on a fresh test database cloned from the migrated
 * template (see `test/global-setup.ts`), on a free port, with a quiet logger. Only usable inside vitest.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { inject } from "vitest";
import { startServer, type BatonServer, type StartServerOptions } from "./server";

export interface TestServer extends BatonServer {
  /** Connection string of this test's own database. */
  readonly connectionString: string;
  /** Stops the server and drops its database. */
  close(): Promise<void>;
}

/** Creates an empty, migrated database for one test file. @returns its connection string and a drop function. */
export async function createTestDatabase(): Promise<{ connectionString: string; drop(): Promise<void> }> {
  const adminUrl = inject("pgAdminUrl");
  const template = inject("pgTemplateDatabase");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    connectionString: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        // a pool's end() resolves before its clients' sockets have closed: let those sessions go (up to 2 s) before
        // forcing the rest, or the termination reaches a client that no longer listens for errors (an uncaught error)
        for (let waited = 0; waited < 2000; waited += 20) {
          const { rows } = await c.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = $1", [name]);
          if (rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Starts a server for a test: its own database (unless `connectionString` is given, to run several servers on one
 * database), port 0, fixed test keys unless given, `LOG_LEVEL`-controlled quiet logging.
 */
export async function startTestServer(options: Partial<StartServerOptions> = {}): Promise<TestServer> {
  const db = options.connectionString ? undefined : await createTestDatabase();
  const connectionString = options.connectionString ?? db!.connectionString;
  const server = await startServer({
    port: 0,
    secret: "baton-test-secret-0123456789",
    devApiKey: options.devApiKey ?? `tr_dev_test${randomBytes(8).toString("hex")}`,
    prodApiKey: options.prodApiKey ?? `tr_prod_test${randomBytes(8).toString("hex")}`,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "warn" }),
    migrate: false,
    ...options,
    connectionString,
  });
  return {
    ...server,
    connectionString,
    async close() {
      await server.close();
      await db?.drop();
    },
  };
}
