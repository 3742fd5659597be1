import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callEndpoint, Hangup } from "../src/endpoint-client";
import { findFreePort } from "../src/db/postgres";

describe("callEndpoint's request target (parsed once per endpoint URL)", () => {
  const seen: Array<{ url: string | undefined; authorization: string | undefined; action: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, authorization: req.headers.authorization, action: req.headers["x-trigger-action"] as string | undefined });
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("sends to the URL's path and query, with its credentials as Basic auth, the same on every call", async () => {
    const url = `http://us%40er:p%3Ass@127.0.0.1:${port}/api/trigger?x=1&y=%20`;
    for (let i = 0; i < 2; i++) {
      const reply = await callEndpoint(url, "tr_dev_key", "PING", undefined, { timeoutMs: 5_000 });
      expect(reply.ok).toBe(true);
    }
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.url).toBe("/api/trigger?x=1&y=%20");
      expect(s.authorization).toBe(`Basic ${Buffer.from("us@er:p:ss").toString("base64")}`);
      expect(s.action).toBe("PING");
    }
  });

  it("answers an invalid URL with {ok: false} naming it, every time, without throwing", async () => {
    for (let i = 0; i < 2; i++) {
      const reply = await callEndpoint("not a url", "k", "PING", undefined, { timeoutMs: 1_000 });
      expect(reply.ok).toBe(false);
      expect(!reply.ok && reply.error.message).toBe("endpoint URL not a url is not valid");
    }
  });
});

describe("callEndpoint's failures (never thrown: {ok: false} with what happened)", () => {
  // answers after `?delay=<ms>`, with a repeated header
  const server = http.createServer((req, res) => {
    const delay = Number(new URL(req.url ?? "/", "http://x").searchParams.get("delay") ?? 0);
    req.resume();
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(202, [["content-type", "application/json"], ["x-many", "a"], ["x-many", "b"]]);
      res.end('{"late":true}');
    }, delay);
  });
  let base = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("gives status, body, text and headers of an answer (repeated headers joined)", async () => {
    const reply = await callEndpoint(`${base}/?delay=0`, "k", "PING", { a: 1 }, { timeoutMs: 5_000 });
    expect(reply.ok && { status: reply.status, body: reply.body, text: reply.text, many: reply.headers.get("X-Many") }).toEqual({
      status: 202,
      body: { late: true },
      text: '{"late":true}',
      many: "a, b",
    });
  });

  it("times out after timeoutMs, flagged timedOut", async () => {
    const reply = await callEndpoint(`${base}/?delay=2000`, "k", "PING", undefined, { timeoutMs: 150 });
    expect(reply.ok).toBe(false);
    expect(!reply.ok && { timedOut: reply.timedOut, message: reply.error.message }).toEqual({ timedOut: true, message: "endpoint did not answer within 150 ms" });
    expect(reply.durationMs).toBeLessThan(1_500);
  });

  it("hangs up when its Hangup aborts, and at once when it was aborted before the call", async () => {
    const hangup = new Hangup();
    setTimeout(() => hangup.abort(), 100);
    const reply = await callEndpoint(`${base}/?delay=2000`, "k", "PING", undefined, { timeoutMs: 5_000, hangup });
    expect(!reply.ok && { timedOut: reply.timedOut, message: reply.error.message }).toEqual({ timedOut: false, message: "the request was aborted (the run was canceled)" });
    expect(reply.durationMs).toBeLessThan(1_500);
    const again = await callEndpoint(`${base}/?delay=0`, "k", "PING", undefined, { timeoutMs: 5_000, hangup });
    expect(again.ok).toBe(false);
  });

  it("names the socket error of an endpoint nobody listens on", async () => {
    const port = await findFreePort();
    const reply = await callEndpoint(`http://127.0.0.1:${port}/api`, "k", "PING", undefined, { timeoutMs: 5_000 });
    expect(!reply.ok && reply.timedOut).toBe(false);
    expect(!reply.ok && reply.error.message).toMatch(/^endpoint unreachable: ECONNREFUSED /);
  });

  it("refuses a URL that is not http(s)", async () => {
    const reply = await callEndpoint("ftp://127.0.0.1/x", "k", "PING", undefined, { timeoutMs: 1_000 });
    expect(!reply.ok && reply.error.message).toBe("endpoint URL ftp://127.0.0.1/x is not valid");
  });
});
