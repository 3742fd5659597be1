import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { countUsers, createExampleDb, ensureExampleSchema, findUser, recordAttempt, SEED_USERS, type ExampleDatabase } from "../src/db";
import { createWelcomeReport, scoreUser } from "../src/welcome-report";

// A plain empty database of its own (schema `example` does not need Baton's migrations).
async function createDatabase(): Promise<{ connectionString: string; drop(): Promise<void> }> {
  const adminUrl = inject("pgAdminUrl");
  const name = `example_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`).finally(() => admin.end());
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    connectionString: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`).finally(() => c.end());
    },
  };
}

describe("schema example: users and welcome reports", () => {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let db: Kysely<ExampleDatabase>;

  beforeAll(async () => {
    database = await createDatabase();
    db = createExampleDb(database.connectionString);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it("creates the schema and seeds the users once, even when called concurrently and again", async () => {
    await Promise.all([ensureExampleSchema(db), ensureExampleSchema(db)]);
    await db.updateTable("example.users").set({ name: "Ada King" }).where("id", "=", "user_1").execute();
    await ensureExampleSchema(db);
    expect(await countUsers(db)).toBe(SEED_USERS.length);
    expect((await findUser(db, "user_1"))?.name).toBe("Ada King");
    expect(await findUser(db, "user_404")).toBeUndefined();
  });

  it("computes a welcome report from the user row and upserts one row per user", async () => {
    const now = new Date("2024-03-31T09:00:00Z");
    const report = await createWelcomeReport(db, "user_1", now);
    expect(report).toMatchObject({ userId: "user_1", emailDomain: "example.com", daysSinceSignup: 30, score: 40 + 30 + 1 + 10 });
    const again = await createWelcomeReport(db, "user_1", new Date("2024-04-30T09:00:00Z"));
    expect(again.daysSinceSignup).toBe(60);
    expect(again.createdAt).toBe(report.createdAt);
    const rows = await db.selectFrom("example.welcome_reports").selectAll().where("user_id", "=", "user_1").execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.days_since_signup).toBe(60);
  });

  it("fails with `User not found: <id>` for an unknown user", async () => {
    await expect(createWelcomeReport(db, "user_404")).rejects.toThrow("User not found: user_404");
  });

  it("scores personal mailboxes lower than organisation domains and caps tenure", () => {
    expect(scoreUser({ email: "a@gmail.com", name: "Solo" }, 10_000)).toBe(40 + 0 + 20 + 0);
    expect(scoreUser({ email: "a@corp.example", name: "Full Name" }, 0)).toBe(40 + 30 + 0 + 10);
  });

  it("counts attempts per idempotency key in Postgres", async () => {
    expect(await recordAttempt(db, "key-a")).toBe(1);
    expect(await recordAttempt(db, "key-a")).toBe(2);
    expect(await recordAttempt(db, "key-b")).toBe(1);
  });
});
