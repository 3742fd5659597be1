/**
 * `npm run demo`: starts Postgres + server + example app (the new-user wait shortened to 2 s), sends one `new.user`
 * event per seeded user plus one for an unknown user and one with an invalid payload, waits for the runs (60 s at
 * most, with a progress line), prints a table and exits 0 only when:
 *   - every seeded user's run is SUCCESS and a welcome email to that user is stored in the mail folder,
 *   - user_404's run is FAILURE with the error `User not found: user_404`,
 *   - the invalid payload's run is INVALID_PAYLOAD.
 *
 * Its data is kept apart from `npm start`'s, so the two can run side by side: embedded Postgres in
 * .baton/demo/pgdata (unless DATABASE_URL), mail in .baton/demo/mail (unless BATON_MAIL_DIR), the server on PORT or a
 * free port. SMTP_URL is ignored: the demo checks delivery by reading the stored mail.
 */
import { stat } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import type { EventWithRuns } from "@baton/example";

// Before the example is imported: the new-user job reads it once (see services/example/src/jobs.ts).
process.env["BATON_DEMO_WAIT_SECONDS"] = "2";
delete process.env["SMTP_URL"];

const { findMailTo, getRun, sendEvent, waitForEventRuns, SEED_USERS } = await import("@baton/example");
const { startStack } = await import("./start");

const TIMEOUT_MS = 60_000;

/** One event the demo sends and what its run must end as. */
interface Case {
  readonly eventId: string;
  /** What the table shows in the "user" column. */
  readonly label: string;
  readonly payload: unknown;
  readonly expect:
    | { readonly status: "SUCCESS"; readonly email: string }
    | { readonly status: "FAILURE"; readonly message: string }
    | { readonly status: "INVALID_PAYLOAD" };
}

/** One row of the result table. */
interface Row {
  readonly runId: string;
  readonly user: string;
  readonly status: string;
  readonly duration: string;
  readonly email: "yes" | "no";
  /** Empty when the row is as expected, else what is wrong. */
  readonly problem: string;
}

async function findFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function progressPrinter(): { update(finished: number, total: number): void; done(): void } {
  const tty = process.stdout.isTTY;
  let last = "";
  return {
    update(finished, total) {
      const line = `waiting for runs… ${finished}/${total} finished`;
      if (line === last) return;
      last = line;
      if (tty) process.stdout.write(`\r\x1b[2K${line}`);
      else console.log(line);
    },
    done() {
      if (tty && last) process.stdout.write("\n");
    },
  };
}

function formatDuration(startedAt: Date | null | undefined, completedAt: Date | null | undefined): string {
  if (!startedAt || !completedAt) return "-";
  const ms = completedAt.getTime() - startedAt.getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function printTable(rows: readonly Row[]): void {
  const header = ["run id", "user", "status", "duration", "email delivered", "check"];
  const body = rows.map((r) => [r.runId, r.user, r.status, r.duration, r.email, r.problem ? `✗ ${r.problem}` : "✓"]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] ?? "").length)));
  const format = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  console.log(format(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const cells of body) console.log(format(cells));
}

async function mailSince(mailDir: string | undefined, email: string, since: number): Promise<boolean> {
  if (!mailDir) return false;
  for (const mail of await findMailTo(mailDir, email)) {
    // Only mail stored during this demo counts (the folder may hold earlier runs' mail).
    if ((await stat(mail.file)).mtimeMs >= since) return true;
  }
  return false;
}

async function main(): Promise<number> {
  const log = (message: string): void => console.log(`[demo] ${message}`);
  const startedAt = Date.now();
  const port = process.env["PORT"] ? Number(process.env["PORT"]) : await findFreePort();
  const stack = await startStack({
    port,
    log,
    pgDataDir: path.join(process.cwd(), ".baton", "demo", "pgdata"),
    mailDir: process.env["BATON_MAIL_DIR"] ?? path.join(process.cwd(), ".baton", "demo", "mail"),
    // The server reads LOG_LEVEL itself; without it the demo keeps the server quiet.
    ...(process.env["LOG_LEVEL"] ? {} : { logLevel: "warn" as const }),
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping…`);
    void stack.close().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { server, app } = stack;
    const api = { apiUrl: server.url, apiKey: server.apiKeys.dev };
    log(`server ${server.url}, example app ${app.url}, mail in ${app.mailDir ?? "?"}`);

    const batch = `demo-${new Date(startedAt).toISOString().replace(/[-:.TZ]/g, "")}`;
    const cases: Case[] = [
      ...SEED_USERS.map((user): Case => ({
        eventId: `${batch}-${user.id}`,
        label: user.id,
        payload: { userId: user.id },
        expect: { status: "SUCCESS", email: user.email },
      })),
      { eventId: `${batch}-user_404`, label: "user_404", payload: { userId: "user_404" }, expect: { status: "FAILURE", message: "User not found: user_404" } },
      { eventId: `${batch}-invalid`, label: "{ userId: 42 }", payload: { userId: 42 }, expect: { status: "INVALID_PAYLOAD" } },
    ];
    for (const c of cases) await sendEvent(api, { id: c.eventId, name: "new.user", payload: c.payload });
    log(`sent ${cases.length} new.user events (the job waits 2 s between the email and the report)`);

    const progress = progressPrinter();
    const { events, timedOut } = await waitForEventRuns(
      api,
      cases.map((c) => c.eventId),
      { timeoutMs: TIMEOUT_MS, onProgress: ({ finished, total }) => progress.update(finished, total) },
    );
    progress.done();
    if (timedOut) log(`timed out after ${TIMEOUT_MS / 1000} s; unfinished runs are marked below`);

    const rows: Row[] = [];
    for (const c of cases) rows.push(await checkCase(api, c, events.get(c.eventId), app.mailDir, startedAt));
    console.log("");
    printTable(rows);
    console.log("");
    const failed = rows.filter((r) => r.problem);
    if (failed.length === 0) {
      log(`all ${rows.length} runs ended as expected: ${SEED_USERS.length} SUCCESS with a welcome email stored, FAILURE for user_404, INVALID_PAYLOAD for the bad payload`);
      return 0;
    }
    log(`${failed.length} of ${rows.length} runs did not end as expected`);
    return 1;
  } finally {
    log("stopping the example app, the server and Postgres…");
    await stack.close();
  }
}

async function checkCase(
  api: { apiUrl: string; apiKey: string },
  c: Case,
  event: EventWithRuns | undefined,
  mailDir: string | undefined,
  since: number,
): Promise<Row> {
  const run = event?.runs[0];
  if (!run) return { runId: "-", user: c.label, status: "NO RUN", duration: "-", email: "no", problem: "no run started for the event" };
  const details = await getRun(api, run.id);
  const email = c.expect.status === "SUCCESS" && (await mailSince(mailDir, c.expect.email, since)) ? "yes" : "no";
  const problems: string[] = [];
  if ((event?.runs.length ?? 0) > 1) problems.push(`${event?.runs.length} runs started, expected 1`);
  if (details.status !== c.expect.status) problems.push(`expected ${c.expect.status}`);
  if (c.expect.status === "SUCCESS" && email !== "yes") problems.push(`no email to ${c.expect.email} stored`);
  if (c.expect.status === "FAILURE" && details.error?.message !== c.expect.message) {
    problems.push(`expected error "${c.expect.message}", got "${details.error?.message ?? "none"}"`);
  }
  return {
    runId: run.id,
    user: c.label,
    status: details.status,
    duration: formatDuration(details.startedAt ?? run.startedAt, details.completedAt ?? run.completedAt),
    email,
    problem: problems.join("; "),
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error("[demo] failed:", error);
    process.exit(1);
  },
);
