/**
 * The seed job end to end: the real server (test harness, fresh database), the example app with its SMTP server,
 * real events over HTTP, a 1-second durable wait.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestServer } from "@baton/server/testing";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createExampleApp, type ExampleApp } from "../src/app";
import { getRun, sendEvent, waitForEventRuns, type BatonApi } from "../src/baton-api";
import { createExampleDb, type ExampleDatabase } from "../src/db";
import { WAIT_SECONDS } from "../src/jobs";
import { findMailTo } from "../src/mailbox";

// Runs before the imports above are evaluated: the new-user job reads the wait once, at import.
vi.hoisted(() => {
  process.env["BATON_DEMO_WAIT_SECONDS"] = "1";
});

describe("the new-user seed job against the real server", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let app: ExampleApp;
  let api: BatonApi;
  let db: Kysely<ExampleDatabase>;
  let mailDir: string;
  const batch = `e2e-${Date.now()}`;

  beforeAll(async () => {
    mailDir = await mkdtemp(path.join(tmpdir(), "baton-example-e2e-mail-"));
    server = await startTestServer();
    app = await createExampleApp({ connectionString: server.connectionString, apiUrl: server.url, apiKey: server.apiKeys.dev, mailDir });
    api = { apiUrl: server.url, apiKey: server.apiKeys.dev };
    db = createExampleDb(server.connectionString);
  });

  afterAll(async () => {
    await db?.destroy();
    await app?.close();
    await server?.close();
    await rm(mailDir, { recursive: true, force: true });
  });

  it("reads the wait from BATON_DEMO_WAIT_SECONDS", () => {
    expect(WAIT_SECONDS).toBe(1);
  });

  it("a seeded user gets the welcome email, waits, and ends SUCCESS with a stored welcome report", async () => {
    const eventId = `${batch}-user_1`;
    await sendEvent(api, { id: eventId, name: "new.user", payload: { userId: "user_1" } });
    const { events, timedOut } = await waitForEventRuns(api, [eventId], { timeoutMs: 30_000 });
    expect(timedOut).toBe(false);
    const summary = events.get(eventId)?.runs[0];
    expect(summary).toBeDefined();
    const run = await getRun(api, summary!.id);
    expect(run.status).toBe("SUCCESS");
    expect(run.output).toMatchObject({ userId: "user_1", emailDomain: "example.com" });
    // The durable wait really happened between start and completion.
    expect(run.completedAt!.getTime() - run.startedAt!.getTime()).toBeGreaterThanOrEqual(1000);

    const mails = await findMailTo(mailDir, "ada@example.com");
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe("Welcome!");
    expect(mails[0]?.html).toContain("Welcome, Ada Lovelace!");

    const report = await db.selectFrom("example.welcome_reports").selectAll().where("user_id", "=", "user_1").executeTakeFirst();
    expect(report).toMatchObject({ user_id: "user_1", email_domain: "example.com" });
    expect(report?.score).toBe((run.output as { score: number }).score);
  });

  it("an unknown user fails the run with `User not found: user_404` and sends no mail", async () => {
    const eventId = `${batch}-user_404`;
    await sendEvent(api, { id: eventId, name: "new.user", payload: { userId: "user_404" } });
    const { events, timedOut } = await waitForEventRuns(api, [eventId], { timeoutMs: 30_000 });
    expect(timedOut).toBe(false);
    const run = await getRun(api, events.get(eventId)!.runs[0]!.id);
    expect(run.status).toBe("FAILURE");
    expect(run.error?.message).toBe("User not found: user_404");
  });

  it("an invalid payload ends the run as INVALID_PAYLOAD", async () => {
    const eventId = `${batch}-invalid`;
    await sendEvent(api, { id: eventId, name: "new.user", payload: { userId: 42 } });
    const { events, timedOut } = await waitForEventRuns(api, [eventId], { timeoutMs: 30_000 });
    expect(timedOut).toBe(false);
    expect(events.get(eventId)?.runs.map((r) => r.status)).toEqual(["INVALID_PAYLOAD"]);
  });

  it("retry-demo fails its flaky subtask twice, succeeds on the third attempt, and stores one snapshot", async () => {
    const eventId = `${batch}-retry`;
    await sendEvent(api, { id: eventId, name: "demo.retry", payload: { failures: 2 } });
    const { events, timedOut } = await waitForEventRuns(api, [eventId], { timeoutMs: 30_000 });
    expect(timedOut).toBe(false);
    const run = await getRun(api, events.get(eventId)!.runs[0]!.id);
    expect(run.status).toBe("SUCCESS");
    expect(run.output).toMatchObject({ userCount: 3, attempt: 3 });
    const snapshots = await db.selectFrom("example.user_stats").selectAll().execute();
    expect(snapshots).toHaveLength(1);
  });
});
