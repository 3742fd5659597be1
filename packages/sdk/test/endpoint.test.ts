import { IndexEndpointResponse, RunJobResponse } from "@baton/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createExpressHandler,
  createHonoHandler,
  createNodeHandler,
  cronTrigger,
  defineIntegration,
  eventTrigger,
  intervalTrigger,
  invokeTrigger,
  TriggerClient,
} from "../src/index";
import { API_KEY, closedUrl, execute, runJobBody } from "./helpers/fake-api";

function makeClient(apiUrl = "http://127.0.0.1:9"): TriggerClient {
  const client = new TriggerClient({ id: "my-app", apiKey: API_KEY, apiUrl });
  const resend = defineIntegration({
    id: "resend",
    name: "Resend",
    client: { send: async (to: string) => ({ id: `mail-${to}` }) },
    tasks: { sendEmail: { name: "Send Email", run: async (params: { to: string }, c) => c.send(params.to) } },
  });
  client.defineJob({
    id: "new-user",
    name: "New user",
    version: "0.0.1",
    trigger: eventTrigger({ name: "new.user", schema: z.object({ userId: z.string() }), filter: { plan: ["pro"] } }),
    integrations: { resend },
    concurrencyLimit: 3,
    run: async (payload) => payload.userId,
  });
  client.defineJob({ id: "cron", name: "Cron", version: "1.2.3", trigger: cronTrigger({ cron: "*/5 * * * *" }), run: async () => 1 });
  client.defineJob({
    id: "interval",
    name: "Interval",
    version: "1.0.0",
    trigger: intervalTrigger({ seconds: 60 }),
    concurrencyLimit: { id: "group", limit: 2 },
    enabled: false,
    run: async () => 1,
  });
  client.defineJob({ id: "invoked", name: "Invoked", version: "1.0.0", trigger: invokeTrigger(), run: async () => 1 });
  return client;
}

function post(action: string | undefined, init: { key?: string | null; method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key !== null) headers["x-trigger-api-key"] = init.key ?? API_KEY;
  if (action) headers["x-trigger-action"] = action;
  const method = init.method ?? "POST";
  return new Request("http://endpoint.test/api/trigger", {
    method,
    headers,
    ...(method === "GET" || method === "HEAD" ? {} : { body: init.body === undefined ? "" : JSON.stringify(init.body) }),
  });
}

async function call(client: TriggerClient, request: Request) {
  const response = await client.handleRequest(request);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(response.headers.get("x-baton-protocol")).toBe("2");
  expect(response.headers.get("trigger-version")).toBe("2023-09-29");
  return { status: response.status, body: (await response.json()) as any };
}

describe("handleRequest: auth and routing", () => {
  it("401 without x-trigger-api-key", async () => {
    const r = await call(makeClient(), post("PING", { key: null }));
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/missing x-trigger-api-key/);
  });

  it("401 on a different key", async () => {
    const r = await call(makeClient(), post("PING", { key: "tr_dev_other" }));
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("unauthorized");
  });

  it("405 for a non-POST method", async () => {
    expect((await call(makeClient(), post("PING", { method: "GET" }))).status).toBe(405);
  });

  it("400 without an action, 405 for an unknown action", async () => {
    expect((await call(makeClient(), post(undefined))).status).toBe(400);
    const unknown = await call(makeClient(), post("DO_SOMETHING"));
    expect(unknown.status).toBe(405);
    expect(unknown.body.message).toContain("DO_SOMETHING");
  });

  it("PING checks x-trigger-endpoint-id", async () => {
    expect((await call(makeClient(), post("PING", { headers: { "x-trigger-endpoint-id": "my-app" } }))).body).toEqual({ ok: true });
    const mismatch = await call(makeClient(), post("PING", { headers: { "x-trigger-endpoint-id": "other" } }));
    expect(mismatch.body.ok).toBe(false);
    expect(mismatch.body.error).toContain("other");
  });

  it("VALIDATE answers the endpoint id; RUN_NOTIFICATION answers ok", async () => {
    expect((await call(makeClient(), post("VALIDATE"))).body).toEqual({ ok: true, endpointId: "my-app" });
    expect((await call(makeClient(), post("RUN_NOTIFICATION", { body: { id: "run_1" } }))).body).toEqual({ ok: true });
  });

  it("EXECUTE_JOB: 404 for an unknown job, 400 for an invalid body", async () => {
    const client = makeClient();
    const notFound = await call(client, post("EXECUTE_JOB", { body: runJobBody("run_1", "nope", {}) }));
    expect(notFound.status).toBe(404);
    expect(notFound.body.message).toContain("nope");
    const invalid = await call(client, post("EXECUTE_JOB", { body: { job: 1 } }));
    expect(invalid.status).toBe(400);
  });
});

describe("INDEX_ENDPOINT", () => {
  it("describes every job in the shape of core's IndexEndpointResponse", async () => {
    const r = await call(makeClient(), post("INDEX_ENDPOINT"));
    expect(r.status).toBe(200);
    const parsed = IndexEndpointResponse.parse(r.body);
    expect(parsed.jobs.map((j) => j.id)).toEqual(["new-user", "cron", "interval", "invoked"]);
    const [newUser, cron, interval, invoked] = parsed.jobs;
    expect(newUser?.trigger).toEqual({ type: "static", title: "new.user", rule: { event: "new.user", source: "trigger.dev", payload: { plan: ["pro"] } } });
    expect(newUser?.event.name).toBe("new.user");
    expect(newUser?.integrations["resend"]?.id).toBe("resend");
    expect(newUser?.concurrencyLimit).toBe(3);
    expect(cron?.trigger).toEqual({ type: "scheduled", schedule: { type: "cron", options: { cron: "*/5 * * * *" } } });
    expect(interval?.trigger).toEqual({ type: "scheduled", schedule: { type: "interval", options: { seconds: 60 } } });
    expect(interval?.enabled).toBe(false);
    expect(interval?.concurrencyLimit).toEqual({ id: "group", limit: 2 });
    expect(invoked?.trigger).toEqual({ type: "invoke" });
  });
});

describe("EXECUTE_JOB", () => {
  it("a job whose tasks are all cached answers SUCCESS without any HTTP call", async () => {
    const client = new TriggerClient({ id: "my-app", apiKey: API_KEY, apiUrl: await closedUrl() });
    let bodies = 0;
    client.defineJob({
      id: "cached",
      name: "Cached",
      version: "1.0.0",
      trigger: eventTrigger({ name: "x" }),
      run: async (_payload, io) => {
        const a = await io.runTask("a", async () => {
          bodies++;
          return 1;
        });
        const b = await io.runTask("b", async () => {
          bodies++;
          return new Date(0);
        });
        await io.wait("w", 60);
        await io.logger.info("done");
        return { a, b: b.toISOString() };
      },
    });
    const { taskIdempotencyKey } = await import("../src/index");
    const key = (k: unknown) => taskIdempotencyKey("run_1", undefined, k as string);
    const body = runJobBody("run_1", "cached", {}, {
      batonProtocol: 1,
      tasks: [
        { id: key("a"), idempotencyKey: key("a"), status: "COMPLETED", noop: false, output: 1 },
        { id: key("b"), idempotencyKey: key("b"), status: "COMPLETED", noop: false, output: "1970-01-01T00:00:00.000Z", outputMeta: { values: ["Date"], v: 1 } },
      ],
      noopTaskKeys: [key("w"), taskIdempotencyKey("run_1", undefined, ["__log", 0])],
    });
    const r = await execute(client, body);
    expect(r.body).toEqual({ status: "SUCCESS", output: { a: 1, b: "1970-01-01T00:00:00.000Z" } });
    expect(RunJobResponse.safeParse(r.body).success).toBe(true);
    expect(bodies).toBe(0);
    expect(client.apiRequestCount).toBe(0);
  });

  it("an invalid payload answers INVALID_PAYLOAD with the paths, and run is never called", async () => {
    const client = new TriggerClient({ id: "my-app", apiKey: API_KEY, apiUrl: await closedUrl() });
    let called = false;
    client.defineJob({
      id: "typed",
      name: "Typed",
      version: "1.0.0",
      trigger: eventTrigger({ name: "typed", schema: z.object({ id: z.string(), age: z.number().int() }) }),
      run: async (payload) => {
        called = true;
        return payload.id;
      },
    });
    const r = await execute(client, runJobBody("run_1", "typed", { id: 1, age: "x" }));
    expect(r.body.status).toBe("INVALID_PAYLOAD");
    expect(r.body.errors.map((e: { path: string[] }) => e.path.join("."))).toEqual(["id", "age"]);
    expect(r.body.errors.every((e: { message: string }) => e.message.length > 0)).toBe(true);
    expect(RunJobResponse.safeParse(r.body).success).toBe(true);
    expect(called).toBe(false);
  });

  it("ctx carries the run's startedAt and isRetry from the body", async () => {
    const client = new TriggerClient({ id: "my-app", apiKey: API_KEY, apiUrl: await closedUrl() });
    client.defineJob({
      id: "ctx",
      name: "Ctx",
      version: "1.0.0",
      trigger: eventTrigger({ name: "ctx" }),
      run: async (_p, _io, ctx) => ({ startedAt: ctx.run.startedAt.toISOString(), isRetry: ctx.run.isRetry, event: ctx.event.name, env: ctx.environment.slug }),
    });
    const body = runJobBody("run_1", "ctx", {});
    body.run.isRetry = true;
    const r = await execute(client, body);
    expect(r.body.output).toEqual({ startedAt: "2026-01-01T00:00:01.000Z", isRetry: true, event: "test.event", env: "dev" });
  });
});

describe("adapters", () => {
  it("client.listen serves the endpoint over node:http at /api/trigger", async () => {
    const client = makeClient();
    const endpoint = await client.listen({ port: 0 });
    try {
      expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/trigger$/);
      const ok = await fetch(endpoint.url, { method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "VALIDATE" } });
      expect(ok.headers.get("x-baton-protocol")).toBe("2");
      expect(await ok.json()).toEqual({ ok: true, endpointId: "my-app" });
      const wrongPath = await fetch(endpoint.url.replace("/api/trigger", "/other"), { method: "POST" });
      expect(wrongPath.status).toBe(404);
    } finally {
      await endpoint.close();
    }
  });

  it("node, express and hono handlers forward to handleRequest", async () => {
    const client = makeClient();
    const { createServer } = await import("node:http");
    const express = createExpressHandler(client);
    const servers = [
      createServer(createNodeHandler(client)),
      createServer((req, res) => {
        void express(Object.assign(req, { body: {} }), res);
      }),
    ];
    for (const server of servers) {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/x`, { method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "PING", "x-trigger-endpoint-id": "my-app" } });
      expect(await res.json()).toEqual({ ok: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const { Hono } = await import("hono");
    const app = new Hono();
    app.post("/api/trigger", createHonoHandler(client));
    const res = await app.request("/api/trigger", { method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "VALIDATE" } });
    expect(await res.json()).toEqual({ ok: true, endpointId: "my-app" });
  });
});

describe("node adapters answer as handleRequest, without fetch objects", () => {
  const EXACT_ERRORS: Array<[string, Record<string, string>, string, number, string]> = [
    ["no key", { "x-trigger-action": "PING" }, "", 401, '{"message":"Unauthorized: missing x-trigger-api-key header","error":{"code":"unauthorized","message":"Unauthorized: missing x-trigger-api-key header"}}'],
    ["no action", { "x-trigger-api-key": API_KEY }, "", 400, '{"message":"Missing x-trigger-action header","error":{"code":"bad_request","message":"Missing x-trigger-action header"}}'],
    [
      "invalid JSON",
      { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" },
      "{nope",
      400,
      '{"message":"EXECUTE_JOB body is not valid JSON","error":{"code":"bad_request","message":"EXECUTE_JOB body is not valid JSON"}}',
    ],
    [
      "invalid body",
      { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" },
      '{"job":1}',
      400,
      "",
    ],
  ];
  const CASES: Array<[string, Record<string, string>, string]> = [
    ...EXACT_ERRORS.map(([name, headers, body]) => [name, headers, body] as [string, Record<string, string>, string]),
    ["PING", { "x-trigger-api-key": API_KEY, "x-trigger-action": "PING", "x-trigger-endpoint-id": "my-app" }, ""],
    ["INDEX_ENDPOINT", { "x-trigger-api-key": API_KEY, "x-trigger-action": "INDEX_ENDPOINT" }, ""],
    ["unknown job", { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" }, JSON.stringify(runJobBody("run_1", "nope", {}))],
    // a UTF-8 byte order mark is dropped (as Request.text() drops it), non-ASCII survives
    ["EXECUTE_JOB", { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" }, `\uFEFF${JSON.stringify(runJobBody("run_1", "new-user", { userId: "é✓😀" }))}`],
  ];

  async function viaServer(handler: (req: any, res: any) => unknown, headers: Record<string, string>, body: string) {
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/api/trigger`, { method: "POST", headers, body });
      return { status: res.status, headers: [...res.headers].filter(([name]) => !["date", "connection", "keep-alive", "content-length", "x-trigger-request-timing"].includes(name)), body: await res.text() };
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it("the same status, headers and body bytes as handleRequest, over node:http and express", async () => {
    const client = makeClient();
    const express = createExpressHandler(client);
    for (const [name, headers, body] of CASES) {
      const fetched = await client.handleRequest(new Request("http://endpoint.test/api/trigger", { method: "POST", headers, body }));
      const expected = {
        status: fetched.status,
        headers: [...fetched.headers].filter(([header]) => header !== "x-trigger-request-timing"),
        body: await fetched.text(),
      };
      expect(fetched.headers.get("x-trigger-request-timing"), name).toMatch(/^dur=\d+\.\d{3}$/);
      expect(await viaServer(createNodeHandler(client), headers, body), `node: ${name}`).toEqual(expected);
      expect(await viaServer((req, res) => express(req, res), headers, body), `express, stream: ${name}`).toEqual(expected);
      // express.raw() leaves a Buffer in req.body
      const raw = async (req: any, res: any) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        return express(Object.assign(req, { body: Buffer.concat(chunks) }), res);
      };
      expect(await viaServer(raw, headers, body), `express, raw body: ${name}`).toEqual(expected);
    }
    for (const [name, headers, body, status, text] of EXACT_ERRORS) {
      const answer = await viaServer(createNodeHandler(client), headers, body);
      expect(answer.status, name).toBe(status);
      if (text) expect(answer.body, name).toBe(text);
      else expect(JSON.parse(answer.body).error.code, name).toBe("validation_failed");
    }
  });

  it("a body over 64 MiB gets the 400 JSON error, and the server keeps serving", async () => {
    const endpoint = await makeClient().listen({ port: 0 });
    try {
      const { request } = await import("node:http");
      const answer = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
        const req = request(endpoint.url, { method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" } }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode, body }));
        });
        req.on("error", reject);
        req.end(Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
      });
      expect(answer).toEqual({
        status: 400,
        body: '{"message":"Request body over 67108864 bytes","error":{"code":"bad_request","message":"Request body over 67108864 bytes"}}',
      });
      const after = await fetch(endpoint.url, { method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "VALIDATE" } });
      expect(after.status).toBe(200);
    } finally {
      await endpoint.close();
    }
  });

  it("client.listen routes /api/trigger with a query, and 404s other paths", async () => {
    const endpoint = await makeClient().listen({ port: 0 });
    try {
      const headers = { "x-trigger-api-key": API_KEY, "x-trigger-action": "VALIDATE" };
      expect((await fetch(`${endpoint.url}?x=1`, { method: "POST", headers })).status).toBe(200);
      expect((await fetch(`${endpoint.url}x`, { method: "POST", headers })).status).toBe(404);
      expect((await fetch(`${endpoint.url}/`, { method: "POST", headers })).status).toBe(404);
    } finally {
      await endpoint.close();
    }
  });

  it("a server hang-up during EXECUTE_JOB stops the execution at its next task", async () => {
    const client = new TriggerClient({ id: "my-app", apiKey: API_KEY, apiUrl: await closedUrl() });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const outcome = new Promise<string>((resolve) => {
      client.defineJob({
        id: "slow",
        name: "Slow",
        version: "1.0.0",
        trigger: eventTrigger({ name: "slow" }),
        run: async (_payload, io) => {
          started();
          await gate;
          try {
            await io.runTask("after", async () => 1);
            resolve("ran");
          } catch (error) {
            resolve((error as Error).name);
            throw error;
          }
        },
      });
    });
    const { createServer, request } = await import("node:http");
    const server = createServer(createNodeHandler(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const req = request({ port, host: "127.0.0.1", method: "POST", headers: { "x-trigger-api-key": API_KEY, "x-trigger-action": "EXECUTE_JOB" } });
      req.on("error", () => {});
      req.end(JSON.stringify(runJobBody("run_1", "slow", {})));
      await running;
      req.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      expect(await outcome).toBe("CanceledWithTaskError");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("the node request view: headers joined, body text, a hang-up signal made on first read from the response", async () => {
    const { EventEmitter } = await import("node:events");
    const { nodeEndpointRequest } = await import("../src/adapters/node");
    const response = (closed: boolean, writableFinished: boolean) => Object.assign(new EventEmitter(), { closed, writableFinished });
    const req = { headers: { "x-a": ["1", "2"], "x-b": "3" }, [Symbol.asyncIterator]: async function* () {} };
    const res = response(false, false);
    const open = nodeEndpointRequest(req, "POST", "{}", res);
    expect(open.header("x-a")).toBe("1, 2");
    expect(open.header("x-b")).toBe("3");
    expect(open.header("x-c")).toBeNull();
    expect(await open.text()).toBe("{}");
    const signal = open.signal!;
    expect(open.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    expect(res.listenerCount("close")).toBe(0);
    let aborts = 0;
    signal.addEventListener("abort", () => aborts++, { once: true });
    expect(res.listenerCount("close")).toBe(1);
    res.closed = true;
    res.emit("close");
    expect(aborts).toBe(1);
    expect(signal.aborted).toBe(true);
    // a response that finished does not abort; one that closed unfinished before the first read is aborted already
    const finished = response(false, false);
    const watched = nodeEndpointRequest(req, "POST", "", finished).signal!;
    watched.addEventListener("abort", () => aborts++);
    Object.assign(finished, { closed: true, writableFinished: true }).emit("close");
    expect(aborts).toBe(1);
    expect(watched.aborted).toBe(false);
    expect(nodeEndpointRequest(req, "POST", "", response(true, false)).signal?.aborted).toBe(true);
    expect(nodeEndpointRequest(req, "POST", "", undefined).signal).toBeUndefined();
  });
});
