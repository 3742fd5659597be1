/**
 * node:http adapter: turns an `IncomingMessage` into a fetch `Request` for `client.handleRequest` and writes the
 * `Response` back.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BATON_PROTOCOL_VERSION } from "@baton/core";
import type { ListenOptions, ListeningEndpoint, TriggerClient } from "../client";

/** Largest request body accepted, bytes (EXECUTE_JOB bodies carry cached outputs: v2 ships up to 3.5 MB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The parts of a node request the adapters read (express's `req` fits too). */
export interface NodeRequestLike extends AsyncIterable<unknown> {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingMessage["headers"];
}

/**
 * Builds a fetch Request from a node request; `bodyOverride` is used when a framework already read the body, `signal`
 * becomes the Request's (see {@link hangUpSignal}).
 */
export async function toFetchRequest(req: NodeRequestLike, bodyOverride?: string | Uint8Array, signal?: AbortSignal): Promise<Request> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const host = headers.get("host") ?? "localhost";
  const url = new URL(req.url ?? "/", `http://${host}`);
  const method = req.method ?? "GET";
  let body: Uint8Array | string | undefined = bodyOverride;
  if (body === undefined && method !== "GET" && method !== "HEAD") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > MAX_BODY_BYTES) throw new Error(`Request body over ${MAX_BODY_BYTES} bytes`);
      chunks.push(buffer);
    }
    body = Buffer.concat(chunks);
  }
  const init: RequestInit = { method, headers, ...(signal ? { signal } : {}) };
  if (body !== undefined && method !== "GET" && method !== "HEAD") init.body = body as BodyInit;
  return new Request(url, init);
}

/**
 * A signal aborted when the client hangs up before the response is written (the response closes unfinished): the
 * Baton server does that when it cancels a run it is executing, so the execution stops at its next task.
 */
export function hangUpSignal(res: { once(event: "close", listener: () => void): unknown; readonly writableFinished: boolean }): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** The parts of a node response the adapters write (express's `res` fits too). */
export interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string | readonly string[]): unknown;
  end(chunk?: unknown): unknown;
}

/** Writes a fetch Response to a node response. */
export async function writeFetchResponse(res: NodeResponseLike, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  res.end(Buffer.from(await response.arrayBuffer()));
}

/**
 * A node:http request listener that serves `client` (mount it on the route of your choice).
 * @example http.createServer(createNodeHandler(client)).listen(4000)
 */
export function createNodeHandler(client: TriggerClient): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      await writeFetchResponse(res, await client.handleRequest(await toFetchRequest(req, undefined, hangUpSignal(res))));
    } catch (error) {
      writeJsonError(res, 400, error instanceof Error ? error.message : String(error));
    }
  };
}

function writeJsonError(res: NodeResponseLike, status: number, message: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("x-baton-protocol", String(BATON_PROTOCOL_VERSION));
  res.setHeader("trigger-version", "2023-09-29");
  res.end(JSON.stringify({ message, error: { code: status === 404 ? "not_found" : "bad_request", message } }));
}

/** @internal Implementation of `client.listen`. */
export async function listenNode(client: TriggerClient, options: ListenOptions): Promise<ListeningEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const path = options.path ?? "/api/trigger";
  const handler = createNodeHandler(client);
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (pathname !== path) {
      writeJsonError(res, 404, `Not found: the endpoint is at ${path}`);
      return;
    }
    void handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${address.port}${path}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
