/**
 * The example's jobs: `new-user` (the seed job of SPEC §10), `retry-demo` (retries and subtasks) and
 * `daily-digest` (a cron job).
 */
import { cronTrigger, eventTrigger, type TriggerClient } from "@baton/sdk";
import type { Kysely } from "kysely";
import { z } from "zod";
import { countUsers, findUser as findUserRow, recordAttempt, type ExampleDatabase, type User } from "./db";
import type { ResendIntegration } from "./resend";
import { createWelcomeReport, type WelcomeReport } from "./welcome-report";

/**
 * How long `new-user` waits between the welcome email and the report, seconds: `BATON_DEMO_WAIT_SECONDS`, else
 * 3 hours (`60 * 60 * 3`, as the seed job). `npm run demo` sets 2; tests set 1. Read when this module is first
 * imported, so set it before importing `@baton/example` (or pass `waitSeconds` to `createExampleApp`).
 */
export const WAIT_SECONDS = Number(process.env["BATON_DEMO_WAIT_SECONDS"] ?? 60 * 60 * 3);

/** Default sender of the welcome email: `BATON_MAIL_FROM`, else a fixed example address. */
export const DEFAULT_MAIL_FROM = process.env["BATON_MAIL_FROM"] ?? "Baton Example <welcome@example.com>";

/** What the jobs need from the app. */
export interface ExampleJobDeps {
  readonly db: Kysely<ExampleDatabase>;
  readonly resend: ResendIntegration;
  /** `From` of the welcome email. */
  readonly from: string;
  /** Seconds `new-user` waits (default {@link WAIT_SECONDS}). */
  readonly waitSeconds: number;
}

/** The payload of `new.user` events. */
export const NewUserPayload = z.object({ userId: z.string() });
export type NewUserPayload = z.infer<typeof NewUserPayload>;

/** The payload of `demo.retry` events: how many attempts of the flaky task fail before one succeeds (0–2). */
export const RetryDemoPayload = z.object({ failures: z.number().int().min(0).max(2).default(2) });
export type RetryDemoPayload = z.infer<typeof RetryDemoPayload>;

/** The jobs defined by {@link defineExampleJobs}: `{ newUser, retryDemo, dailyDigest }`, fully typed. */
export type ExampleJobs = ReturnType<typeof defineExampleJobs>;

/** The HTML body of the welcome email (the name is HTML-escaped). */
export function welcomeEmail(name: string): string {
  const safe = name.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<h1>Welcome, ${safe}!</h1><p>Thanks for signing up. We'll send you a short report about your account in a little while.</p>`;
}

/** Defines `new-user`, `retry-demo` and `daily-digest` on `client`. */
export function defineExampleJobs(client: TriggerClient, deps: ExampleJobDeps) {
  const { resend, from, waitSeconds } = deps;
  const findUser = (userId: string): Promise<User | undefined> => findUserRow(deps.db, userId);
  const longRunningCode = (userId: string): Promise<WelcomeReport> => createWelcomeReport(deps.db, userId);

  const newUser = client.defineJob({
    id: "new-user",
    name: "Run when a new user signs up",
    version: "0.0.1",
    trigger: eventTrigger({ name: "new.user", schema: z.object({ userId: z.string() }) }),
    integrations: { resend },
    run: async (payload, io) => {
      const user = await findUser(payload.userId); // regular code, not a task
      if (!user) throw new Error(`User not found: ${payload.userId}`);
      await io.resend.sendEmail("Welcome email", { to: user.email, from, subject: "Welcome!", html: welcomeEmail(user.name) });
      await io.wait("wait", waitSeconds); // 60 * 60 * 3 (3 hours) unless BATON_DEMO_WAIT_SECONDS is set
      return await io.runTask("my-task", async () => longRunningCode(payload.userId), { name: "My Task" });
    },
  });

  const retryDemo = client.defineJob({
    id: "retry-demo",
    name: "Retries and subtasks",
    version: "0.0.1",
    trigger: eventTrigger({ name: "demo.retry", schema: RetryDemoPayload }),
    run: async (payload, io) => {
      await io.logger.info("syncing user stats", { failuresBeforeSuccess: payload.failures });
      const stats = await io.runTask(
        "sync-user-stats",
        async (_task, io) => {
          const userCount = await io.runTask("count-users", async () => countUsers(deps.db), { name: "Count users" });
          // Fails its first `failures` attempts: the attempt counter is a row in Postgres keyed by the task's
          // idempotency key, so each retry (a new execution of the run) sees the previous attempts.
          const snapshot = await io.runTask(
            "flaky-upstream",
            async (task, io) => {
              const attempt = await recordAttempt(deps.db, task.idempotencyKey);
              if (attempt <= payload.failures) {
                throw new Error(`upstream unavailable (attempt ${attempt} of ${payload.failures + 1} needed)`);
              }
              return await io.runTask(
                "store-snapshot",
                async () => {
                  const row = await deps.db
                    .insertInto("example.user_stats")
                    .values({ user_count: userCount, source: "retry-demo" })
                    .returning(["id", "created_at"])
                    .executeTakeFirstOrThrow();
                  return { snapshotId: String(row.id), attempt, storedAt: row.created_at.toISOString() };
                },
                { name: "Store snapshot" },
              );
            },
            { name: "Flaky upstream", retry: { limit: 3, minTimeoutInMs: 200, factor: 2 } },
          );
          return { userCount, ...snapshot };
        },
        { name: "Sync user stats" },
      );
      await io.logger.info("user stats synced", stats);
      return stats;
    },
  });

  const dailyDigest = client.defineJob({
    id: "daily-digest",
    name: "Daily user digest",
    version: "0.0.1",
    trigger: cronTrigger({ cron: "0 9 * * *" }),
    run: async (payload, io) => {
      const userCount = await io.runTask("count-users", async () => countUsers(deps.db), { name: "Count users" });
      await io.logger.info(`daily digest: ${userCount} users`, { userCount, slot: payload.ts.toISOString() });
      return { userCount };
    },
  });

  return { newUser, retryDemo, dailyDigest };
}
