import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recoverStaleLock } from "../src/db/postgres";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A data directory as a killed embedded cluster leaves it: its postmaster.pid (the pid is gone) and its socket files. */
function killedClusterDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "baton-stale-"));
  dirs.push(dir);
  // pid 2^22 + 1 is above Linux's pid_max ceiling: no process has it
  writeFileSync(path.join(dir, "postmaster.pid"), `${2 ** 22 + 1}\n${dir}\n`);
  writeFileSync(path.join(dir, ".s.PGSQL.41234"), "");
  writeFileSync(path.join(dir, ".s.PGSQL.41234.lock"), "4194305\n");
  writeFileSync(path.join(dir, "PG_VERSION"), "15\n");
  return dir;
}

describe("recoverStaleLock (an embedded cluster killed with its owner)", () => {
  it("removes the stale postmaster.pid and the killed cluster's Unix socket and socket lock, and nothing else", async () => {
    const dir = killedClusterDir();
    const said: string[] = [];
    await recoverStaleLock(dir, (m) => said.push(m));
    expect(readdirSync(dir).sort()).toEqual(["PG_VERSION"]);
    expect(said.join("\n")).toContain("stale postmaster.pid");
  });

  it("leaves a data directory without a postmaster.pid (a clean shutdown) alone", async () => {
    const dir = killedClusterDir();
    rmSync(path.join(dir, "postmaster.pid"));
    await recoverStaleLock(dir, () => undefined);
    expect(existsSync(path.join(dir, ".s.PGSQL.41234"))).toBe(true);
  });
});
