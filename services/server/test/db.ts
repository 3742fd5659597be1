import pg from "pg";
import { createTestDatabase as createDatabase } from "../src/testing";

/** A database of one test file, cloned from the migrated template, with a pool; dropped by `drop()`. */
export interface TestDatabase {
  readonly connectionString: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/** Creates a fresh database for one test file (see `createTestDatabase` in src/testing.ts) and a pool on it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const db = await createDatabase();
  const pool = new pg.Pool({ connectionString: db.connectionString, max: 20 });
  return {
    connectionString: db.connectionString,
    pool,
    async drop() {
      await pool.end();
      await db.drop();
    },
  };
}
