import { Worker } from "node:worker_threads";
import type pg from "pg";
import type { Logger } from "pino";

/** A statement that ends one run's wait, valid at any instant: `placeholder` stands for the time it is committed. */
export interface TimedStatement {
  readonly sql: string;
  /** JSON arrays of records; every occurrence of `placeholder` in them is replaced by the commit time. */
  readonly params: readonly string[];
  /** An ISO timestamp that occurs in `params` exactly where the commit time goes. */
  readonly placeholder: string;
}

/** What became of one armed statement. */
export interface WakeResult {
  readonly runId: string;
  /** The arming it belongs to (see {@link Waker.arm}). */
  readonly token: number;
  /** `conflict`: the run changed since the statement was prepared (nothing written); `error`: anything else. */
  readonly outcome: "resumed" | "conflict" | "error";
  /** The time the statement was sent with, as its commit time (epoch ms). */
  readonly at: number;
  readonly message?: string;
}

/** Heap limits of the wake-up thread: it holds timers, prepared statements and a few connections (MB). */
const THREAD_LIMITS = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2, codeRangeSizeMb: 4, stackSizeMb: 1 };
/** The thread stops after this long without any wait to end, and starts again on demand (ms). */
const IDLE_STOP_MS = 5_000;
/** Most statements the thread holds at once (a few kB each); waits beyond are ended by the dispatcher itself. */
const MAX_HELD = 2_000;

/**
 * The wake-up thread of a dispatcher (`wake-thread.mjs`): commits prepared statements at their due time on its own
 * connections, away from the main event loop, whose timers fire late while it is saturated. The thread runs only while
 * there are waits to end: {@link warm} starts it, and it stops after {@link IDLE_STOP_MS} without any.
 *
 * Optional by design: statements are accepted from the moment the thread starts ({@link available}) but it serves
 * them only once {@link ready} (about 100 ms later, more on a loaded machine), so a caller keeps its own timer until
 * then; when the thread cannot start, or dies holding statements, `onLost` gets their runs back.
 */
export class Waker {
  private worker: Worker | undefined;
  private isReady = false;
  private stopped = false;
  /** the thread failed before it was ever ready: not started again */
  private broken = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** runId -> the token armed, while the thread holds it */
  private readonly held = new Map<string, number>();
  /** ids of the statement texts the current thread has been sent (runs share a few texts) */
  private textIds = new Map<string, number>();

  /**
   * @param connection the pool's connection settings (the thread opens its few connections with them)
   * @param onFired called with the outcome of statements that came due together
   * @param onLost called when the thread dies, with the runs whose statements it still held
   */
  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly onFired: (results: readonly WakeResult[]) => void,
    private readonly onLost: (runIds: string[]) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Whether {@link arm} is accepted now: the thread is started (statements wait for it to be {@link ready}) and holds
   * fewer than {@link MAX_HELD}.
   */
  get available(): boolean {
    return this.worker !== undefined && !this.stopped && this.held.size < MAX_HELD;
  }

  /** Whether the thread is up, its timers running: a statement armed now is committed on time. */
  get ready(): boolean {
    return this.isReady && this.worker !== undefined && !this.stopped;
  }

  /**
   * Starts the thread unless it runs (or cannot run), and keeps it for {@link IDLE_STOP_MS} more at least: call it as
   * soon as a wait is known to come (the thread is {@link ready} tens of ms after it starts).
   */
  warm(): void {
    if (this.stopped || this.broken) return;
    if (this.worker) {
      this.idleLater();
      return;
    }
    let worker: Worker;
    try {
      // no TypeScript loader in the thread (execArgv: []): it runs plain JavaScript with `pg`
      worker = new Worker(new URL("./wake-thread.mjs", import.meta.url), {
        workerData: { connection: this.connection },
        execArgv: [],
        resourceLimits: THREAD_LIMITS,
      });
    } catch (error) {
      this.broken = true;
      this.log.warn({ err: error }, "no wake-up thread; waits end on the main thread");
      return;
    }
    this.worker = worker;
    this.textIds = new Map();
    worker.unref();
    worker.on("message", (m: { type: string; results?: WakeResult[] }) => {
      if (this.worker !== worker) return;
      if (m.type === "ready") {
        this.isReady = true;
        this.idleLater();
      } else if (m.type === "fired" && m.results) {
        for (const r of m.results) if (this.held.get(r.runId) === r.token) this.held.delete(r.runId);
        this.idleLater();
        this.onFired(m.results);
      }
    });
    worker.on("error", (error) => this.lost(worker, error));
    worker.on("exit", (code) => this.lost(worker, new Error(`wake-up thread exited with ${code}`)));
  }

  /** Commits `statement` at `at` (never before), unless disarmed or armed again first; `token` comes back with it. */
  arm(runId: string, token: number, at: Date, statement: TimedStatement): void {
    if (!this.available) throw new Error("the wake-up thread is not available");
    clearTimeout(this.idleTimer);
    this.held.set(runId, token);
    let textId = this.textIds.get(statement.sql);
    const first = textId === undefined;
    if (textId === undefined) {
      textId = this.textIds.size;
      this.textIds.set(statement.sql, textId);
    }
    // each text crosses once (messages arrive in order)
    this.worker!.postMessage({ type: "arm", runId, token, at: at.getTime(), textId, ...(first ? { sql: statement.sql } : {}), params: statement.params, placeholder: statement.placeholder });
  }

  /** Drops the statement armed for a run (it may already be committing: its result still comes back). */
  disarm(runId: string): void {
    if (!this.held.delete(runId)) return;
    this.worker?.postMessage({ type: "disarm", runId });
    this.idleLater();
  }

  /** Stops the thread for good (closing its connections); statements it still holds are left to the runs' jobs. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    this.held.clear();
    await this.halt();
  }

  private idleLater(): void {
    clearTimeout(this.idleTimer);
    if (this.held.size || !this.worker) return;
    this.idleTimer = setTimeout(() => {
      if (!this.held.size) void this.halt();
    }, IDLE_STOP_MS);
    this.idleTimer.unref();
  }

  /** Ends the current thread, if any (it closes its connections first; terminated if that takes over 2 s). */
  private async halt(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    this.isReady = false;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.postMessage({ type: "stop" });
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return; // halted on purpose
    if (!this.isReady) this.broken = true;
    this.worker = undefined;
    this.isReady = false;
    this.log.warn({ err: error }, this.broken ? "no wake-up thread; waits end on the main thread" : "wake-up thread stopped; it starts again on demand");
    const runIds = [...this.held.keys()];
    this.held.clear();
    if (runIds.length) this.onLost(runIds);
  }
}

/** The settings of `pool` with which another thread can open a connection like the pool's (undefined if it cannot). */
export function connectionSettings(pool: pg.Pool): pg.ClientConfig | undefined {
  const options = (pool as unknown as { options?: Record<string, unknown> }).options ?? {};
  if (typeof options["password"] === "function") return undefined; // a password callback cannot cross threads
  const settings: Record<string, unknown> = {};
  for (const key of ["connectionString", "host", "port", "user", "password", "database", "ssl", "application_name", "options", "keepAlive", "statement_timeout", "connectionTimeoutMillis"]) {
    const value = options[key];
    if (value !== undefined && typeof value !== "function") settings[key] = value;
  }
  return settings as pg.ClientConfig;
}
