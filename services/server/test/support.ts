import { createServer } from "node:http";
import type pg from "pg";
import { expect } from "vitest";
import type { CommandContext } from "../src/commands/context";
import { createApp } from "../src/http/app";

/** Every `/api` route of the router itself (hono's `app.routes` of `createApp`, minus middleware), in order. */
export function apiRoutes(): Array<{ method: string; path: string }> {
  // registering routes touches no dependency, so an empty context is enough to read the route list
  const app = createApp({ ctx: {} as CommandContext, environmentsByKeyHash: new Map() });
  const seen = new Set<string>();
  const routes: Array<{ method: string; path: string }> = [];
  for (const r of app.routes) {
    if (r.method === "ALL" || !r.path.startsWith("/api/")) continue;
    const id = `${r.method} ${r.path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    routes.push({ method: r.method, path: r.path });
  }
  return routes;
}

/** A raw HTTP call: any headers, any body text; the JSON answer parsed when it is JSON. */
export async function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(`${baseUrl}${path}`, { method, headers: options.headers ?? {}, body: options.body });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}

/** Asserts the one JSON error envelope of SPEC §5: `{error: {code, message, details?}}`. */
export function expectEnvelope(response: { status: number; body: any; text: string }, status: number, what: string): void {
  expect(response.status, `${what}: ${response.text}`).toBe(status);
  expect(response.body, `${what}: ${response.text}`).toEqual({
    error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
  });
  expect(Object.keys(response.body.error).every((k) => ["code", "message", "details"].includes(k)), what).toBe(true);
  expect(response.body.error.message.length, what).toBeGreaterThan(0);
}

/** How many rows the event store and the graphile outbox hold (to prove a request wrote nothing). */
export async function rowCounts(pool: pg.Pool): Promise<{ events: number; jobs: number }> {
  const { rows } = await pool.query<{ events: number; jobs: number }>(
    "select (select count(*)::int from baton.events) as events, (select count(*)::int from graphile_worker.jobs) as jobs",
  );
  return rows[0]!;
}

/** Polls `read` until `done(value)` holds; returns the value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await sleep(everyMs);
    value = await read();
  }
  return value;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Promises the test resolves by name: a task body awaits `gates.wait(name)`, the test calls `gates.open(name)`. */
export class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  private get(name: string): { promise: Promise<void>; open: () => void } {
    let gate = this.gates.get(name);
    if (!gate) {
      let open!: () => void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { promise, open };
      this.gates.set(name, gate);
    }
    return gate;
  }
  wait(name: string): Promise<void> {
    return this.get(name).promise;
  }
  open(name: string): void {
    this.get(name).open();
  }
}

/** The graphile jobs whose key is `key` (e.g. `run:<id>`), with their due time. */
export async function graphileJobs(pool: pg.Pool, key: string): Promise<Array<{ key: string; run_at: Date; task_identifier: string; locked_at: Date | null }>> {
  const { rows } = await pool.query<{ key: string; run_at: Date; task_identifier: string; locked_at: Date | null }>(
    "select key, run_at, task_identifier, locked_at from graphile_worker.jobs where key = $1",
    [key],
  );
  return rows;
}

/**
 * The INDEX_ENDPOINT answer of a hand-written endpoint (no SDK, which refuses some bad input itself) listing one
 * enabled job with a static event trigger on `events`.
 */
export function oneJobIndex(job: { id: string; name: string; version: string; events: readonly string[] }): unknown {
  const [first = job.id] = job.events;
  return {
    jobs: [
      {
        id: job.id,
        name: job.name,
        version: job.version,
        event: { name: first, title: first, source: "trigger.dev", icon: "custom-event" },
        trigger: { type: "static", title: first, rule: { event: [...job.events], source: "trigger.dev" } },
        integrations: {},
        internal: false,
        enabled: true,
        startPosition: "latest",
        preprocessRuns: false,
      },
    ],
    sources: [],
    dynamicTriggers: [],
    dynamicSchedules: [],
  };
}

/** A hand-written endpoint on a free port that answers every request with `answer()` as JSON. */
export async function startHandWrittenEndpoint(answer: () => unknown): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(answer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
