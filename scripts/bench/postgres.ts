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
    const name = `baton_bench_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: external });
    await admin.connect();
    let url = external;
    let created = false;
    try {
      await admin.query(`create database ${name}`);
      const u = new URL(external);
      u.pathname = `/${name}`;
      url = u.toString();
      created = true;
      progress(`using DATABASE_URL's server, fresh database ${name}`);
    } catch (error) {
      progress(`could not create a bench database (${(error as Error).message}); using DATABASE_URL's database itself`);
    } finally {
      await admin.end();
    }
    return {
      url,
      kind: "external",
      pgStatStatements: await enablePgStatStatements(url),
      async stop() {
        if (!created) return;
        const c = new pg.Client({ connectionString: external });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
        await c.end();
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
