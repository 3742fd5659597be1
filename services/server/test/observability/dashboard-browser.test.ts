import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startE2E, type E2E } from "../e2e/helpers";
import { defineSeedLikeJob, type Outbox } from "./seed-like";

/** Debian's chromium (`apt-get install chromium`; `.ci/run` installs it). */
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve(import.meta.dirname, "../../../../test-artifacts");
const available = existsSync(CHROMIUM);

if (!available) {
  if (process.env.CI) {
    describe("dashboard in a real browser", () => {
      it("needs chromium in CI", () => {
        throw new Error(`${CHROMIUM} is missing: CI must install the chromium package (apt-get install -y chromium) before the tests`);
      });
    });
  } else {
    console.warn(`[dashboard-browser] ${CHROMIUM} not found: skipping the browser test (install it with: apt-get install -y chromium)`);
  }
}

describe.skipIf(!available)("dashboard in a real browser (headless chromium)", () => {
  const outbox: Outbox = { sent: [] };
  let e2e: E2E;
  let browser: Browser;
  let page: Page;
  let doneRunId: string;
  let waitingRunId: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    e2e = await startE2E((client) => defineSeedLikeJob(client, outbox));
    const done = await e2e.sendEvent("new.user", { userId: "ada", waitSeconds: 1 }, { id: "ui-done" });
    const waiting = await e2e.sendEvent("new.user", { userId: "grace", waitSeconds: 3600 }, { id: "ui-waiting" });
    [doneRunId] = (await e2e.waitForRuns(done.id)) as [string];
    [waitingRunId] = (await e2e.waitForRuns(waiting.id)) as [string];
    expect((await e2e.waitForRun(doneRunId)).status).toBe("SUCCESS");
    expect((await e2e.waitForRun(waitingRunId, ["WAITING_TO_CONTINUE"])).status).toBe("WAITING_TO_CONTINUE");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
    await e2e?.close();
  });

  it("sends anonymous visitors to the login page, and logs in with the API key", async () => {
    await page.goto(`${e2e.server.url}/runs/${waitingRunId}`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.fill("#apiKey", "tr_dev_wrongwrongwrong");
    await page.click("button[type=submit]");
    await expect.poll(() => page.textContent("body")).toContain("not valid");
    await page.fill("#apiKey", e2e.server.apiKeys.dev);
    await page.click("button[type=submit]");
    await page.waitForURL(`**/runs/${waitingRunId}`);
    const cookie = (await page.context().cookies()).find((c) => c.name === "baton_session");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax" });
  });

  it("shows the waiting run: trigger event, the email task with redacted output, the log, the wait and when it continues", async () => {
    await page.goto(`${e2e.server.url}/runs/${waitingRunId}`);
    expect(await page.textContent("#run-status")).toContain("WAITING_TO_CONTINUE");
    expect(await page.textContent("#trigger-event")).toContain("ui-waiting");
    expect(await page.textContent("#trigger-event")).toContain("grace");
    const email = page.locator('details[data-name="Send email"]');
    await expect.poll(() => email.getAttribute("data-status")).toBe("COMPLETED");
    const emailText = (await email.textContent()) ?? "";
    expect(emailText).toContain("grace@example.com");
    expect(emailText).toContain("[REDACTED]");
    expect(emailText).not.toContain("secret-token-123");
    // nor in the raw history of the run
    expect(await page.locator("#history").textContent()).not.toContain("secret-token-123");
    expect(await page.locator('[data-kind="log"]').first().textContent()).toContain("welcome email sent");
    const wait = page.locator('details[data-name="wait"]');
    expect(await wait.getAttribute("data-status")).toBe("WAITING");
    expect(await wait.locator(".wait-until").textContent()).toMatch(/continues at \d{4}-\d\d-\d\d .*\(in (59 m|1 h 00 m)/);
    // tasks come in order: email, log, wait
    const order = await page.locator("#tasks > details, #tasks > .log").evaluateAll((els) => els.map((e) => e.getAttribute("data-name") ?? "log"));
    expect(order).toEqual(["Send email", "log", "wait"]);
    // the raw event history of the run
    expect(await page.locator("#history tr[data-type='run.created']").count()).toBe(1);
    expect(await page.locator("#history tr[data-type='run.waiting']").count()).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-run-waiting.png"), fullPage: true });
  });

  it("cancels the waiting run from its page", async () => {
    await page.click("#cancel");
    await page.waitForURL(`**/runs/${waitingRunId}?notice=*`);
    expect(await page.textContent("#run-status")).toContain("CANCELED");
    expect(await page.locator('details[data-name="wait"]').getAttribute("data-status")).toBe("CANCELED");
    expect(await page.locator("#history tr[data-type='run.canceled']").textContent()).toContain("key tr_dev_");
    expect((await e2e.getRun(waitingRunId)).status).toBe("CANCELED");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-run-canceled.png"), fullPage: true });
  });

  it("shows a finished run with its output, timings and the task after the wait", async () => {
    await page.goto(`${e2e.server.url}/runs/${doneRunId}`);
    expect(await page.textContent("#run-status")).toContain("SUCCESS");
    expect(await page.textContent("#run-output")).toContain("report for ada");
    expect(await page.locator('details[data-name="wait"]').getAttribute("data-status")).toBe("COMPLETED");
    expect(await page.locator('details[data-name="My Task"]').getAttribute("data-status")).toBe("COMPLETED");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-run.png"), fullPage: true });
  });

  it("updates a live run page without a reload until the run ends", async () => {
    const event = await e2e.sendEvent("new.user", { userId: "live", waitSeconds: 2 }, { id: "ui-live" });
    const [runId] = await e2e.waitForRuns(event.id);
    await e2e.waitForRun(runId!, ["WAITING_TO_CONTINUE"]);
    await page.goto(`${e2e.server.url}/runs/${runId}`);
    expect(await page.textContent("#run-status")).toContain("WAITING_TO_CONTINUE");
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await page.waitForSelector('#run-status [data-status="SUCCESS"]', { timeout: 20_000 });
    // same document: the polling script swapped the content in
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
  });

  it("lists runs newest first with filters, and the jobs", async () => {
    await page.goto(`${e2e.server.url}/runs`);
    const ids = await page.locator("#runs tbody tr[data-run]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run")));
    expect(ids.length).toBe(3);
    expect(ids.indexOf(waitingRunId)).toBeLessThan(ids.indexOf(doneRunId));
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-runs.png"), fullPage: true });
    await page.selectOption("select[name=status]", "CANCELED");
    await page.click("form.filters button[type=submit]");
    await page.waitForURL("**/runs?*status=CANCELED*");
    expect(await page.locator("#runs tbody tr[data-run]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run")))).toEqual([waitingRunId]);
    await page.goto(`${e2e.server.url}/jobs`);
    expect(await page.textContent("tr[data-job='new-user']")).toContain("event new.user");
  });
});
