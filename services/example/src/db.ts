/**
 * The example app's own data: schema `example` in the same database as Baton (never inside `baton.*`).
 * Read and written with kysely in regular code; the jobs only call the functions below.
 */
import { Kysely, PostgresDialect, sql, type Generated, type Insertable, type Selectable } from "kysely";
import pg from "pg";

/** `example.users`: the people who sign up. */
export interface UsersTable {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly created_at: Generated<Date>;
}

/** `example.welcome_reports`: one report per user, written by the `new-user` job's "My Task" (upserted). */
export interface WelcomeReportsTable {
  readonly user_id: string;
  readonly email_domain: string;
  readonly days_since_signup: number;
  readonly score: number;
  readonly created_at: Generated<Date>;
  readonly computed_at: Generated<Date>;
}

/** `example.task_attempts`: how often a task with a given idempotency key ran (drives the `retry-demo` job). */
export interface TaskAttemptsTable {
  readonly idempotency_key: string;
  readonly attempts: number;
  readonly last_attempt_at: Generated<Date>;
}

/** `example.user_stats`: snapshots written by the `retry-demo` job. */
export interface UserStatsTable {
  readonly id: Generated<number>;
  readonly user_count: number;
  readonly source: string;
  readonly created_at: Generated<Date>;
}

/** The kysely view of schema `example`. */
export interface ExampleDatabase {
  readonly "example.users": UsersTable;
  readonly "example.welcome_reports": WelcomeReportsTable;
  readonly "example.task_attempts": TaskAttemptsTable;
  readonly "example.user_stats": UserStatsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type WelcomeReportRow = Selectable<WelcomeReportsTable>;

/** The users `ensureExampleSchema` seeds when absent (signup dates are fixed so reports are reproducible). */
export const SEED_USERS: readonly NewUser[] = [
  { id: "user_1", email: "ada@example.com", name: "Ada Lovelace", created_at: new Date("2024-03-01T09:00:00Z") },
  { id: "user_2", email: "grace@navy.example.org", name: "Grace Hopper", created_at: new Date("2025-01-15T14:30:00Z") },
  { id: "user_3", email: "alan@bletchley.example.net", name: "Alan Turing", created_at: new Date("2025-06-20T08:15:00Z") },
];

// Arbitrary constant: serialises concurrent `ensureExampleSchema` calls on one database.
const SCHEMA_LOCK_KEY = 7_402_901_555;

/**
 * Opens a kysely instance on a pg pool (closed by `db.destroy()`).
 * @param connectionString libpq connection string of the database that holds schema `example`
 */
export function createExampleDb(connectionString: string): Kysely<ExampleDatabase> {
  const pool = new pg.Pool({ connectionString, max: 5 });
  // An idle client losing its connection (Postgres restarted or stopped) must not crash the app: pg emits it on
  // the pool, and the next query opens a new connection.
  pool.on("error", (error) => console.warn(`[example] idle Postgres connection lost: ${error.message}`));
  return new Kysely<ExampleDatabase>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * Creates schema `example` and its tables when absent and inserts {@link SEED_USERS} that are missing (existing rows
 * are left as they are). Idempotent and safe to call from concurrent processes (transaction-scoped advisory lock).
 */
export async function ensureExampleSchema(db: Kysely<ExampleDatabase>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`.execute(tx);
    await sql`create schema if not exists example`.execute(tx);
    await sql`create table if not exists example.users (
      id text primary key,
      email text not null unique,
      name text not null,
      created_at timestamptz not null default now()
    )`.execute(tx);
    await sql`create table if not exists example.welcome_reports (
      user_id text primary key references example.users (id),
      email_domain text not null,
      days_since_signup integer not null,
      score integer not null check (score between 0 and 100),
      created_at timestamptz not null default now(),
      computed_at timestamptz not null default now()
    )`.execute(tx);
    await sql`create table if not exists example.task_attempts (
      idempotency_key text primary key,
      attempts integer not null,
      last_attempt_at timestamptz not null default now()
    )`.execute(tx);
    await sql`create table if not exists example.user_stats (
      id bigint generated always as identity primary key,
      user_count integer not null,
      source text not null,
      created_at timestamptz not null default now()
    )`.execute(tx);
    await tx
      .insertInto("example.users")
      .values([...SEED_USERS])
      .onConflict((oc) => oc.doNothing())
      .execute();
  });
}

/** The user with this id, or `undefined`. */
export async function findUser(db: Kysely<ExampleDatabase>, userId: string): Promise<User | undefined> {
  return await db.selectFrom("example.users").selectAll().where("id", "=", userId).executeTakeFirst();
}

/** Number of users. */
export async function countUsers(db: Kysely<ExampleDatabase>): Promise<number> {
  const row = await db
    .selectFrom("example.users")
    .select((eb) => eb.fn.countAll<string>().as("count"))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Records one more attempt of the task with this idempotency key and returns the attempt number (1 on the first).
 * The counter lives in Postgres, so it survives re-executions and restarts.
 */
export async function recordAttempt(db: Kysely<ExampleDatabase>, idempotencyKey: string): Promise<number> {
  const row = await db
    .insertInto("example.task_attempts")
    .values({ idempotency_key: idempotencyKey, attempts: 1 })
    .onConflict((oc) =>
      oc.column("idempotency_key").doUpdateSet({
        attempts: sql<number>`example.task_attempts.attempts + 1`,
        last_attempt_at: sql<Date>`now()`,
      }),
    )
    .returning("attempts")
    .executeTakeFirstOrThrow();
  return row.attempts;
}
