import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Logger, runMigrations as runGraphileMigrations } from "graphile-worker";
import pg from "pg";

/** The repository's `migrations/` folder. */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../migrations");

// Arbitrary constant: every Baton migration runner takes this session-level advisory lock.
const MIGRATION_LOCK_KEY = 7_402_901_113;

/** A migration file was changed after it was applied (forward-only: add a new file instead). */
export class MigrationChecksumError extends Error {
  readonly code = "migration_checksum_mismatch";
  constructor(
    readonly file: string,
    readonly appliedChecksum: string,
    readonly fileChecksum: string,
  ) {
    super(
      `migration ${file} was edited after it was applied (applied sha256 ${appliedChecksum.slice(0, 12)}…, file now ${fileChecksum.slice(0, 12)}…); migrations are forward-only: revert the edit and add a new numbered file`,
    );
    this.name = "MigrationChecksumError";
  }
}

export interface MigrationFile {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** Reads `NNNNNN_name.sql` files in numeric order. @throws on a file name without a number or a duplicate number. */
export function readMigrationFiles(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  const seen = new Set<number>();
  return files.map((name) => {
    const match = /^(\d{6})_[a-z0-9_]+\.sql$/.exec(name);
    if (!match) throw new Error(`migration file name ${name} must look like 000001_description.sql`);
    const id = Number(match[1]);
    if (seen.has(id)) throw new Error(`two migration files share the number ${match[1]}`);
    seen.add(id);
    const sql = readFileSync(path.join(dir, name), "utf8");
    return { id, name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
  });
}

export interface MigrateResult {
  /** Files applied by this call, in order. */
  readonly applied: readonly string[];
}

/**
 * Brings a database up to date: graphile-worker's own schema (its migrate API), then every Baton migration not yet
 * applied, one transaction per file, under a session advisory lock so concurrent runners are safe (the second
 * waits, then finds nothing to do). Each applied file's sha256 is recorded in `baton.schema_migrations`.
 *
 * @throws MigrationChecksumError when an applied file was edited since.
 */
export async function migrate(connectionString: string, dir: string = MIGRATIONS_DIR): Promise<MigrateResult> {
  const files = readMigrationFiles(dir);
  const client = new pg.Client({ connectionString });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await runGraphileMigrations({ connectionString, logger: silentGraphileLogger });
      await client.query(`create schema if not exists baton;
        create table if not exists baton.schema_migrations (
          id integer primary key, name text not null, checksum text not null,
          applied_at timestamptz not null default now())`);
      const { rows } = await client.query<{ id: number; name: string; checksum: string }>(
        "select id, name, checksum from baton.schema_migrations",
      );
      const done = new Map(rows.map((r) => [r.id, r]));
      for (const file of files) {
        const previous = done.get(file.id);
        if (previous) {
          if (previous.checksum !== file.checksum) {
            throw new MigrationChecksumError(file.name, previous.checksum, file.checksum);
          }
          continue;
        }
        await client.query("begin");
        try {
          await client.query(file.sql);
          await client.query("insert into baton.schema_migrations (id, name, checksum) values ($1, $2, $3)", [
            file.id,
            file.name,
            file.checksum,
          ]);
          await client.query("commit");
        } catch (error) {
          await client.query("rollback");
          throw new Error(`migration ${file.name} failed: ${(error as Error).message}`, { cause: error });
        }
        applied.push(file.name);
      }
    } finally {
      await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
  return { applied };
}

const silentGraphileLogger = new Logger(() => () => {});
