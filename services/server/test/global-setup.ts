import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { migrate } from "../src/db/migrate";
import { resolvePostgres, type ResolvedPostgres } from "../src/db/postgres";

declare module "vitest" {
  export interface ProvidedContext {
    /** Connection string of the test cluster's `postgres` database (admin). */
    pgAdminUrl: string;
    /** Name of the migrated template database each test file clones. */
    pgTemplateDatabase: string;
  }
}

const TEMPLATE = "baton_test_template";

function dockerEngineLikely(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync("/var/run/docker.sock");
}

/**
 * One Postgres per test run: `TEST_DATABASE_URL`, else testcontainers' PostgreSQL module when a Docker engine
 * answers, else an embedded Postgres in a temporary directory. Creates a migrated template database that every test
 * file clones (see `test/db.ts`).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let adminUrl: string;
  let stop: () => Promise<void> = async () => {};
  let tempDir: string | undefined;
  if (process.env.TEST_DATABASE_URL) {
    adminUrl = process.env.TEST_DATABASE_URL;
  } else {
    let container: { getConnectionUri(): string; stop(): Promise<unknown> } | undefined;
    if (dockerEngineLikely()) {
      try {
        const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
        container = await new PostgreSqlContainer("postgres:17-alpine").start();
      } catch (error) {
        console.warn(`[tests] no usable Docker engine (${(error as Error).message.split("\n")[0]}); using embedded Postgres`);
      }
    }
    if (container) {
      const c = container;
      adminUrl = c.getConnectionUri();
      stop = async () => void (await c.stop());
    } else {
      tempDir = mkdtempSync(path.join(tmpdir(), "baton-test-pg-"));
      chmodSync(tempDir, 0o755); // the embedded server runs as the OS user "postgres" when we are root
      const resolved: ResolvedPostgres = await resolvePostgres({
        databaseUrl: "",
        dataDir: path.join(tempDir, "pgdata"),
        database: "postgres",
        postgresFlags: ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
      });
      adminUrl = resolved.connectionString;
      stop = resolved.stop;
    }
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE}`);
  await admin.query(`create database ${TEMPLATE}`);
  await admin.end();
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE}`;
  await migrate(templateUrl.toString());
  project.provide("pgAdminUrl", adminUrl);
  project.provide("pgTemplateDatabase", TEMPLATE);
  return async () => {
    await stop();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  };
}
