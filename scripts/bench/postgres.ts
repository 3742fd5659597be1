/** Postgres for the benchmarks (`scripts/bench.ts`, `scripts/bench-append.ts`). */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { resolvePostgres } from "@baton/server";

export interface BenchPostgres {
  readonly url: string;
  readonly kind: "embedded" | "external";
  readonly pgStatStatements: boolean;
  stop(): Promise<void>;
}

/**
 * Postgres for a benchmark: DATABASE_URL's server with a fresh database `baton_bench_<random>` (dropped by `stop`;
 * DATABASE_URL's own database when creating one is not allowed), else an embedded Postgres in a throwaway temp
 * directory (never the user's `.baton/pgdata`) with pg_stat_statements loaded.
 */
export async function startBenchPostgres(progress: (message: string) => void): Promise<BenchPostgres> {
  const external = process.env["DATABASE_URL"];
  if (external) {
    const scratch = await createScratchDatabase(external, "baton_bench");
    if ("error" in scratch) progress(`could not create a bench database (${scratch.error.message}); using DATABASE_URL's database itself`);
    else progress(`using DATABASE_URL's server, fresh database ${new URL(scratch.url).pathname.slice(1)}`);
    const url = "error" in scratch ? external : scratch.url;
    return {
      url,
      kind: "external",
      pgStatStatements: await enablePgStatStatements(url),
      async stop() {
        if (!("error" in scratch)) await scratch.drop();
      },
    };
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "baton-bench-pg-"));
  chmodSync(dataDir, 0o755); // running as root, Postgres runs as its own OS user
  progress(`starting embedded Postgres in ${dataDir} (throwaway)`);
  const postgres = await resolvePostgres({
    databaseUrl: undefined,
    dataDir: path.join(dataDir, "data"),
    database: "baton_bench",
    postgresFlags: ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"],
  });
  return {
    url: postgres.connectionString,
    kind: "embedded",
    pgStatStatements: await enablePgStatStatements(postgres.connectionString),
    async stop() {
      await postgres.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates a fresh database `<prefix>_<8 hex digits>` on `url`'s server (`url` names any database there the role can
 * connect to). @returns its URL and `drop` (drops it with force, errors ignored), or the error when it cannot be
 * created (e.g. no CREATEDB right); never drops a database it did not create.
 */
export async function createScratchDatabase(url: string, prefix: string): Promise<{ url: string; drop(): Promise<void> } | { error: Error }> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create database ${admin.escapeIdentifier(name)}`);
  } catch (error) {
    return { error: error as Error };
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`).catch(() => undefined);
      await c.end();
    },
  };
}

async function enablePgStatStatements(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("create extension if not exists pg_stat_statements");
    await c.query("select pg_stat_statements_reset()");
    return true;
  } catch {
    return false;
  } finally {
    await c.end();
  }
}
