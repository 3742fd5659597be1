/**
 * `npm start` runs node under `sh -c`; a SIGTERM to npm ends only that shell, and node used to keep running,
 * re-parented, with its embedded Postgres. watchParentExit sees the parent go and starts the graceful stop.
 * Real processes: a shell that runs a node child, as npm does.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { startedByNpmScript } from "../src/parent-watch";
import { sleep, until } from "./support";

const dir = mkdtempSync(path.join(os.tmpdir(), "baton-parent-watch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const helper = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src", "parent-watch.ts")).href;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `sh -c "node child"` (the child watches its parent, every 100 ms); returns the shell and the child's pid. */
async function shellWithChild(marker: string): Promise<{ shell: ReturnType<typeof spawn>; child: number }> {
  const script = path.join(dir, `child-${path.basename(marker)}.mjs`);
  writeFileSync(
    script,
    `import { writeFileSync } from "node:fs";
     import { watchParentExit } from ${JSON.stringify(helper)};
     watchParentExit(() => { writeFileSync(${JSON.stringify(marker)}, "stopped"); process.exit(0); }, 100);
     console.log("pid " + process.pid);
     setInterval(() => undefined, 1000);`,
  );
  // `; true`: the shell waits for node instead of exec'ing it, as dash does for npm's scripts
  const shell = spawn("sh", ["-c", `"${process.execPath}" --import tsx "${script}"; true`], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  shell.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const line = await until(async () => /pid (\d+)/.exec(out), (m) => m !== null, "the child's pid", 20_000);
  return { shell, child: Number(line![1]) };
}

describe("watchParentExit", () => {
  it("stops the child once the shell that started it is killed", async () => {
    const marker = path.join(dir, "killed");
    const { shell, child } = await shellWithChild(marker);
    await sleep(300);
    expect(alive(child)).toBe(true);
    shell.kill("SIGTERM");
    await until(async () => alive(child), (a) => !a, "the child exits", 10_000);
    expect(existsSync(marker)).toBe(true);
  });

  it("leaves the child alone while its parent lives", async () => {
    const marker = path.join(dir, "kept");
    const { shell, child } = await shellWithChild(marker);
    await sleep(700);
    expect(alive(child)).toBe(true);
    expect(existsSync(marker)).toBe(false);
    process.kill(child, "SIGKILL");
    await until(async () => shell.exitCode, (code) => code !== null, "the shell exits", 10_000);
  });

  it("is for processes an npm script started (npm sets npm_lifecycle_event)", () => {
    expect(startedByNpmScript({ npm_lifecycle_event: "start" })).toBe(true);
    expect(startedByNpmScript({})).toBe(false);
  });
});
