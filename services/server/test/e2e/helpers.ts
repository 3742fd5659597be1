import { TriggerClient } from "@baton/sdk";
import { expect } from "vitest";
import { startTestServer, type TestServer } from "../../src/testing";

/** A Baton server plus an SDK endpoint served over real HTTP, registered and indexed. */
export interface E2E {
  readonly server: TestServer;
  readonly client: TriggerClient;
  readonly endpointUrl: string;
  /** POST /api/v1/events; returns the parsed body. */
  sendEvent(name: string, payload: unknown, options?: { id?: string; deliverAfter?: number }): Promise<{ id: string }>;
  /** The run ids an event started. */
  runsOf(eventId: string): Promise<string[]>;
  /** GET /api/v2/runs/:id */
  getRun(runId: string): Promise<any>;
  /** Polls a run until its status is one of `statuses` (default: terminal). */
  waitForRun(runId: string, statuses?: string[], timeoutMs?: number): Promise<any>;
  /** Waits until the event started `count` runs and returns their ids. */
  waitForRuns(eventId: string, count?: number, timeoutMs?: number): Promise<string[]>;
  api(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  /** Re-indexes the endpoint (after defining more jobs). */
  register(): Promise<void>;
  close(): Promise<void>;
}

export const TERMINAL = ["SUCCESS", "FAILURE", "TIMED_OUT", "CANCELED", "INVALID_PAYLOAD"];

/**
 * Starts a test server and an SDK client (`defineJobs` runs before the endpoint is indexed).
 * `clientId` must be unique per server.
 */
export async function startE2E(defineJobs: (client: TriggerClient) => void, options: { server?: TestServer; clientId?: string } = {}): Promise<E2E> {
  const server = options.server ?? (await startTestServer());
  const client = new TriggerClient({ id: options.clientId ?? "test-app", apiKey: server.apiKeys.dev, apiUrl: server.url });
  defineJobs(client);
  const endpoint = await client.listen({ port: 0 });
  const api = async (method: string, path: string, body?: unknown, key = server.apiKeys.dev) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const register = async (): Promise<void> => {
    const r = await api("POST", "/api/v1/endpoints", { id: client.id, url: endpoint.url });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  await register();
  const e2e: E2E = {
    server,
    client,
    endpointUrl: endpoint.url,
    api,
    register,
    async sendEvent(name, payload, opts = {}) {
      const r = await api("POST", "/api/v1/events", {
        event: { name, payload, ...(opts.id ? { id: opts.id } : {}) },
        ...(opts.deliverAfter !== undefined ? { options: { deliverAfter: opts.deliverAfter } } : {}),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    },
    async runsOf(eventId) {
      const r = await api("GET", `/api/v2/events/${encodeURIComponent(eventId)}`);
      expect(r.status).toBe(200);
      return r.body.runs.map((x: { id: string }) => x.id);
    },
    async getRun(runId) {
      const r = await api("GET", `/api/v2/runs/${runId}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    },
    async waitForRun(runId, statuses = TERMINAL, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let run: any;
      while (Date.now() < deadline) {
        run = await e2e.getRun(runId);
        if (statuses.includes(run.status)) return run;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`run ${runId} did not reach ${statuses.join("/")} in ${timeoutMs} ms; it is ${run?.status}: ${JSON.stringify(run?.error)}`);
    },
    async waitForRuns(eventId, count = 1, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const ids = await e2e.runsOf(eventId);
        if (ids.length >= count) return ids;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`event ${eventId} did not start ${count} runs`);
    },
    async close() {
      await endpoint.close();
      if (!options.server) await server.close();
    },
  };
  return e2e;
}

/** Counts real executions of task bodies. */
export class Hits {
  private readonly counts = new Map<string, number>();
  hit(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
