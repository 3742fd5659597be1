import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

/** A Baton server running as its own OS process (`npm run server`'s entry point). */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pid: number;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful drain), then wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `services/server/src/main.ts` with tsx against `connectionString`, on a free port, with fixed keys, and
 * resolves once it prints its URL.
 */
export async function spawnServer(connectionString: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "services/server/src/main.ts")], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: connectionString, PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Baton is running at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    if (process.env.BATON_TEST_SERVER_LOG) {
      const log = `${process.env.BATON_TEST_SERVER_LOG}.${child.pid}`;
      child.stdout!.on("data", (c: Buffer) => appendFileSync(log, c));
      child.stderr!.on("data", (c: Buffer) => appendFileSync(log, c));
    }
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before starting:\n${output}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    url,
    pid: child.pid!,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
