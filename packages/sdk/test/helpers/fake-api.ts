/**
 * A tiny in-memory stand-in for the server's task API (create/complete/fail) on a real local socket, and a driver
 * that replays a run the way the server does (cache of COMPLETED tasks, exact noop keys, resume/retry). Unit
 * tests only: the end-to-end tests run against the real server.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TriggerClient } from "../../src/index";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: any;
}

export interface FakeTask {
  id: string;
  idempotencyKey: string;
  name: string;
  noop: boolean;
  status: "PENDING" | "WAITING" | "RUNNING" | "COMPLETED" | "ERRORED" | "CANCELED";
  attempts: number;
  output?: unknown;
  outputMeta?: unknown;
  error?: string;
  parentId?: string;
  delayUntil?: string;
  displayKey?: string;
  description?: string;
  params?: unknown;
  retryAt?: string;
}

export const API_KEY = "tr_dev_testkey123";

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  readonly tasks = new Map<string, FakeTask>();
  #server: Server | undefined;
  #next = 1;
  url = "";

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const body: unknown = text ? JSON.parse(text) : undefined;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
        const path = req.url ?? "/";
        this.requests.push({ method: req.method ?? "GET", path, headers, body });
        const [status, out] = this.#handle(req.method ?? "GET", path, body as any);
        res.statusCode = status;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server?.close(() => resolve());
      this.#server?.closeAllConnections();
    });
  }

  #byId(id: string): FakeTask | undefined {
    for (const t of this.tasks.values()) if (t.id === id) return t;
    return undefined;
  }

  #complete(c: { id: string; output?: string; outputMeta?: unknown }): void {
    const task = this.#byId(c.id);
    if (!task || task.status === "COMPLETED") return;
    task.status = "COMPLETED";
    task.output = c.output === undefined ? null : JSON.parse(c.output);
    task.outputMeta = c.outputMeta;
  }

  #handle(method: string, path: string, body: any): [number, unknown] {
    let m = /^\/api\/v1\/runs\/([^/]+)\/tasks$/.exec(path);
    if (m && method === "POST") {
      for (const c of body.completedTasks ?? []) this.#complete(c);
      const existing = this.tasks.get(body.idempotencyKey);
      if (existing) return [200, this.#wire(existing)];
      const delayed = body.delayUntil && new Date(body.delayUntil).getTime() > Date.now();
      const task: FakeTask = {
        id: `task_${this.#next++}`,
        idempotencyKey: body.idempotencyKey,
        name: body.name ?? "Task",
        noop: body.noop ?? false,
        status: delayed ? "WAITING" : body.noop ? "COMPLETED" : "RUNNING",
        attempts: 1,
        parentId: body.parentId,
        delayUntil: body.delayUntil,
        displayKey: body.displayKey,
        description: body.description,
        params: body.params,
      };
      this.tasks.set(task.idempotencyKey, task);
      return [200, this.#wire(task)];
    }
    m = /^\/api\/v1\/runs\/([^/]+)\/tasks\/([^/]+)\/complete$/.exec(path);
    if (m && method === "POST") {
      this.#complete({ id: m[2]!, output: body.output, outputMeta: body.outputMeta });
      return [200, this.#wire(this.#byId(m[2]!)!)];
    }
    m = /^\/api\/v1\/runs\/([^/]+)\/tasks\/([^/]+)\/fail$/.exec(path);
    if (m && method === "POST") {
      const task = this.#byId(m[2]!)!;
      task.status = "ERRORED";
      task.error = body.error.message;
      return [200, this.#wire(task)];
    }
    m = /^\/api\/v1\/jobs\/([^/]+)\/invoke$/.exec(path);
    if (m && method === "POST") return [200, { id: `run_invoked_${m[1]}` }];
    return [404, { error: { code: "not_found", message: `no route ${method} ${path}` } }];
  }

  #wire(task: FakeTask): unknown {
    return {
      id: task.id,
      idempotencyKey: task.idempotencyKey,
      name: task.name,
      noop: task.noop,
      status: task.status,
      attempts: task.attempts,
      output: task.output ?? null,
      ...(task.outputMeta !== undefined ? { outputMeta: task.outputMeta } : {}),
      error: task.error ?? null,
      parentId: task.parentId ?? null,
      delayUntil: task.delayUntil ?? null,
    };
  }

  /** Requests to the task API (create/complete/fail). */
  taskRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.includes("/tasks"));
  }

  /** Apply what an EXECUTE_JOB response asks the server to do; returns true when the run is finished. */
  apply(response: any): boolean {
    for (const c of response.completedTasks ?? []) this.#complete(c);
    switch (response.status) {
      case "RESUME_WITH_TASK": {
        // The delay passes at once in tests.
        const task = this.#byId(response.task.id)!;
        task.status = task.noop ? "COMPLETED" : "RUNNING";
        return false;
      }
      case "RETRY_WITH_TASK": {
        const task = this.#byId(response.task.id)!;
        task.attempts += 1;
        task.status = "RUNNING";
        task.retryAt = response.retryAt;
        return false;
      }
      case "AUTO_YIELD_EXECUTION":
      case "YIELD_EXECUTION":
        return false;
      default:
        return true;
    }
  }

  /** The RunJobBody the server would send now. */
  body(runId: string, jobId: string, payload: unknown, options: { baton?: boolean } = {}): any {
    const completed = [...this.tasks.values()].filter((t) => t.status === "COMPLETED");
    return runJobBody(runId, jobId, payload, {
      tasks: completed
        .filter((t) => !t.noop)
        .map((t) => ({
          id: t.idempotencyKey,
          idempotencyKey: t.idempotencyKey,
          status: "COMPLETED",
          noop: false,
          output: t.output ?? null,
          ...(t.outputMeta !== undefined ? { outputMeta: t.outputMeta } : {}),
          parentId: t.parentId ?? null,
        })),
      ...(options.baton ? { batonProtocol: 1, noopTaskKeys: completed.filter((t) => t.noop).map((t) => t.idempotencyKey) } : {}),
    });
  }

  /** Executes the run until it finishes (or `maxExecutions`); returns every response. */
  async drive(
    client: TriggerClient,
    jobId: string,
    payload: unknown,
    options: { baton?: boolean; runId?: string; maxExecutions?: number } = {},
  ): Promise<any[]> {
    const runId = options.runId ?? `run_${Math.random().toString(36).slice(2)}`;
    const responses: any[] = [];
    for (let i = 0; i < (options.maxExecutions ?? 20); i++) {
      const response = await execute(client, this.body(runId, jobId, payload, options));
      responses.push(response.body);
      if (this.apply(response.body)) break;
    }
    return responses;
  }
}

export function runJobBody(runId: string, jobId: string, payload: unknown, extra: Record<string, unknown> = {}): any {
  return {
    event: { id: "evt_1", name: "test.event", payload, context: {}, timestamp: new Date("2026-01-01T00:00:00Z").toISOString() },
    job: { id: jobId, version: "1.0.0" },
    run: { id: runId, isTest: false, isRetry: false, startedAt: new Date("2026-01-01T00:00:01Z").toISOString() },
    environment: { id: "env_1", slug: "dev", type: "DEVELOPMENT" },
    organization: { id: "org_1", title: "Org", slug: "org" },
    project: { id: "proj_1", name: "Project", slug: "project" },
    ...extra,
  };
}

export async function execute(client: TriggerClient, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await client.handleRequest(
    new Request("http://endpoint.test/api/trigger", {
      method: "POST",
      headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB", "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** A URL on which nothing listens (a port that was just freed). */
export async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
