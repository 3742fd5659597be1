import { cpSync, mkdtempSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrate, MigrationChecksumError, readMigrationFiles } from "../src/db/migrate";
import { createTestDatabase } from "../src/testing";

/** An empty database (not cloned from the migrated template). */
async function emptyDatabase(): Promise<{ connectionString: string; drop(): Promise<void> }> {
  const db = await createTestDatabase();
  const client = new pg.Client({ connectionString: db.connectionString });
  await client.connect();
  await client.query("drop schema baton cascade; drop schema audit cascade; drop schema graphile_worker cascade");
  await client.end();
  return db;
}

let db: { connectionString: string; drop(): Promise<void> };
beforeAll(async () => {
  db = await emptyDatabase();
});
afterAll(async () => db?.drop());

describe("migrations", () => {
  it("apply every file once, in order, even with concurrent runners", async () => {
    const results = await Promise.all([migrate(db.connectionString), migrate(db.connectionString), migrate(db.connectionString)]);
    const applied = results.flatMap((r) => r.applied);
    expect(applied).toEqual(readMigrationFiles().map((f) => f.name));
    const client = new pg.Client({ connectionString: db.connectionString });
    await client.connect();
    const { rows } = await client.query("select name, length(checksum) as len from baton.schema_migrations order by id");
    await client.end();
    expect(rows.map((r) => r.name)).toEqual(applied);
    expect(rows.every((r) => r.len === 64)).toBe(true);
    expect((await migrate(db.connectionString)).applied).toEqual([]);
  });

  it("refuse an applied file that was edited, naming it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "baton-migrations-"));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    appendFileSync(path.join(dir, "000001_event_store.sql"), "\n-- an edit after the fact\n");
    await expect(migrate(db.connectionString, dir)).rejects.toThrow(MigrationChecksumError);
    await expect(migrate(db.connectionString, dir)).rejects.toThrow(/000001_event_store\.sql was edited after it was applied/);
  });

  it("apply a new file in its own transaction and roll a failing one back entirely", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "baton-migrations-"));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    writeFileSync(path.join(dir, "000900_broken.sql"), "create table baton.half_done (id int);\nselect 1/0;\n");
    await expect(migrate(db.connectionString, dir)).rejects.toThrow(/migration 000900_broken\.sql failed: division by zero/);
    const client = new pg.Client({ connectionString: db.connectionString });
    await client.connect();
    const { rowCount } = await client.query("select 1 from pg_tables where schemaname = 'baton' and tablename = 'half_done'");
    const recorded = await client.query("select 1 from baton.schema_migrations where id = 900");
    await client.end();
    expect(rowCount).toBe(0);
    expect(recorded.rowCount).toBe(0);
  });
});
