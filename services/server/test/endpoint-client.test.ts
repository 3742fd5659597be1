import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callEndpoint } from "../src/endpoint-client";

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
