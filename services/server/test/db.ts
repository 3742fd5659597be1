import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A database of one test file, cloned from the migrated template, dropped by `drop()`. */
export interface TestDatabase {
  readonly name: string;
  readonly connectionString: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/** Creates a fresh database for one test file (`create database … template baton_test_template`). */
export async function createTestDatabase(): Promise<TestDatabase> {
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
  const connectionString = url.toString();
  const pool = new pg.Pool({ connectionString, max: 20 });
  return {
    name,
    connectionString,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
