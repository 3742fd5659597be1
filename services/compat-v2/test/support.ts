/**
 * Test support for the v2 compatibility suite: serves a real `@trigger.dev/sdk@2.3.19` `TriggerClient` over node:http
 * (its `handleRequest` returns a plain `{status, body, headers}`, so a small adapter builds the HTTP answer), registers
 * it with a Baton test server and polls the public API.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TriggerClient } from "@trigger.dev/sdk";

export const TERMINAL = ["SUCCESS", "FAILURE", "TIMED_OUT", "CANCELED", "INVALID_PAYLOAD"];

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What the v2 endpoint answered to one server request. */
export interface EndpointAnswer {
  action: string;
  status: number;
  body: unknown;
}

/** Serves `client.handleRequest` on 127.0.0.1 (a free port). @returns the endpoint URL and a close function. */
export async function serveV2(client: TriggerClient): Promise<{ url: string; answers: EndpointAnswer[]; close(): Promise<void> }> {
  const answers: EndpointAnswer[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const body = await readBody(req);
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
          else if (value !== undefined) headers.set(name, value);
        }
        const request = new Request(`http://${req.headers.host ?? "127.0.0.1"}${req.url ?? "/"}`, {
          method: req.method,
          headers,
          body: req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(body),
        });
        const response = await client.handleRequest(request);
        answers.push({ action: req.headers["x-trigger-action"] as string, status: response?.status ?? 404, body: response?.body });
        if (!response) {
          res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "Not found" }));
          return;
        }
        res.writeHead(response.status, { ...(response.headers ?? {}), "content-type": "application/json" });
        res.end(JSON.stringify(response.body));
      } catch (error) {
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: (error as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/trigger`,
    answers,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A tiny client for Baton's public API (bearer key). */
export function baton(url: string, key: string) {
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const self = {
    api,
    async runsOf(eventId: string, count = 1, timeoutMs = 10_000): Promise<string[]> {
      const deadline = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < deadline) {
        last = await api("GET", `/api/v2/events/${encodeURIComponent(eventId)}`);
        if (last.status === 200 && last.body.runs.length >= count) return last.body.runs.map((r: { id: string }) => r.id);
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`event ${eventId} did not start ${count} runs: ${JSON.stringify(last?.body)}`);
    },
    async getRun(runId: string): Promise<any> {
      const r = await api("GET", `/api/v2/runs/${runId}`);
      if (r.status !== 200) throw new Error(`GET run ${runId}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async waitForRun(runId: string, statuses = TERMINAL, timeoutMs = 30_000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      let run: any;
      while (Date.now() < deadline) {
        run = await self.getRun(runId);
        if (statuses.includes(run.status)) return run;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`run ${runId} did not reach ${statuses.join("/")} in ${timeoutMs} ms; it is ${run?.status}: ${JSON.stringify(run)}`);
    },
  };
  return self;
}

/** A run's task tree reduced to what the assertions compare. */
export interface TaskShape {
  name: string;
  displayKey: string | null;
  status: string;
  subtasks?: TaskShape[];
}

export function shape(tasks: any[]): TaskShape[] {
  return tasks.map((t) => ({
    name: t.name,
    displayKey: t.displayKey ?? null,
    status: t.status,
    ...(t.subtasks?.length ? { subtasks: shape(t.subtasks) } : {}),
  }));
}
