/**
 * Keeps `npm run bench` from rotting: the whole benchmark (embedded or TEST_DATABASE_URL Postgres, the server and the
 * endpoint as child processes, DBOS and graphile-worker peers) at tiny sizes, then every key of latest.json checked.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(path.join(os.tmpdir(), "baton-bench-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = [
  "runs_per_s",
  "steps_per_s",
  "commits_per_task",
  "dbos_runs_per_s",
  "dbos_steps_per_s",
  "ratio_runs_vs_dbos",
  "ratio_steps_vs_dbos",
  "start_latency_ms_p50",
  "start_latency_ms_p99",
  "first_task_latency_ms_p50",
  "first_task_latency_ms_p99",
  "wait_lateness_ms_p50",
  "wait_lateness_ms_p99",
  "ingest_events_per_s",
  "rss_mb_10k_waiting",
  "graphile_jobs_per_s",
];

describe("npm run bench -- --smoke", () => {
  it("measures everything and writes latest.json with a finite number for every key", async () => {
    const out = path.join(dir, "latest.json");
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env["DATABASE_URL"];
    if (process.env["TEST_DATABASE_URL"]) env["DATABASE_URL"] = process.env["TEST_DATABASE_URL"];
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/bench.ts", "--smoke", "--out", out], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, output).toBe(0);
    const results = JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>;
    for (const key of KEYS) {
      expect(typeof results[key], `${key} in ${JSON.stringify(results)}`).toBe("number");
      expect(Number.isFinite(results[key]), `${key} = ${String(results[key])}`).toBe(true);
    }
    expect(output).toContain("runs/s (one-task runs to SUCCESS)");
    // DBOS's repetitions are interleaved with Baton's: each has its own repetition next to Baton's, DBOS first in the
    // first one, and the idle system's CPU is reported
    expect(results["notes"], JSON.stringify(results["notes"])).toBeUndefined();
    for (const key of ["ratio_runs_vs_dbos_reps", "ratio_steps_vs_dbos_reps", "dbos_runs_per_s_reps", "dbos_steps_per_s_reps"]) {
      const reps = results[key] as unknown[];
      expect(reps, key).toHaveLength(1);
      expect(Number.isFinite(reps[0]), `${key}: ${JSON.stringify(reps)}`).toBe(true);
    }
    expect(output.indexOf("DBOS one-step rep 1:")).toBeGreaterThan(-1);
    expect(output.indexOf("DBOS one-step rep 1:")).toBeLessThan(output.indexOf("runs/s rep 1:"));
    expect(output.indexOf("DBOS 20-step rep 1:")).toBeGreaterThan(output.indexOf("runs/s rep 1:"));
    expect(output.indexOf("DBOS 20-step rep 1:")).toBeLessThan(output.indexOf("steps/s rep 1:"));
    for (const key of ["idle_cpu_share_baton_during_dbos", "idle_cpu_share_dbos_during_baton"]) expect(results[key], key).toBeGreaterThanOrEqual(0);
  }, 180_000);
});
