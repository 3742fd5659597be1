/**
 * node:http adapter: answers an `IncomingMessage` with `client.handleEndpointRequest` (the router of
 * `client.handleRequest` without fetch `Request`/`Response` objects, which cost undici and web-stream work on every
 * request) and writes the answer to the `ServerResponse`. `toFetchRequest`/`writeFetchResponse` remain for users who
 * bridge node and fetch themselves.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BATON_PROTOCOL_VERSION } from "@baton/core";
import type { AbortSignalLike, EndpointAnswer, EndpointRequest, ListenOptions, ListeningEndpoint, TriggerClient } from "../client";

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
  if (body === undefined && method !== "GET" && method !== "HEAD") body = await readNodeBody(req);
  const init: RequestInit = { method, headers, ...(signal ? { signal } : {}) };
  if (body !== undefined && method !== "GET" && method !== "HEAD") init.body = body as BodyInit;
  return new Request(url, init);
}

/** What {@link hangUpSignal} watches on a response: node's `ServerResponse` (and express's `res`) fit. */
export interface HangUpWatchable {
  once(event: "close", listener: () => void): unknown;
  readonly writableFinished: boolean;
  /** True once the response closed (node 18+): without it, a close before the signal's first read goes unseen. */
  readonly closed?: boolean;
}

/**
 * A signal aborted when the client hangs up before the response is written (the response closes unfinished): the
 * Baton server does that when it cancels a run it is executing, so the execution stops at its next task.
 */
export function hangUpSignal(res: HangUpWatchable): AbortSignal {
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
 * A node:http request listener that serves `client` (mount it on the route of your choice). It answers exactly as
 * `client.handleRequest` would (status, headers, JSON body), plus a 400 JSON error when the body cannot be read or is
 * over 64 MiB; when the server hangs up before the answer is written, an EXECUTE_JOB stops at its next task.
 * @example http.createServer(createNodeHandler(client)).listen(4000)
 */
export function createNodeHandler(client: TriggerClient): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const method = normalizeMethod(req.method);
      const text = method === "GET" || method === "HEAD" ? "" : decodeBody(await readIncomingBody(req));
      writeAnswer(res, await client.handleEndpointRequest(nodeEndpointRequest(req, method, text, res)));
    } catch (error) {
      writeJsonError(res, 400, error instanceof Error ? error.message : String(error));
    }
  };
}

/**
 * The {@link EndpointRequest} of a node request whose body was read (`text`); `res`, when it can tell, gives the
 * hang-up signal ({@link hangUpWatch}), created on first read (only EXECUTE_JOB reads it).
 * @internal shared with the express adapter
 */
export function nodeEndpointRequest(req: NodeRequestLike, method: string, text: string, res: HangUpWatchable | undefined): EndpointRequest {
  return new NodeEndpointRequest(req.headers, method, text, res);
}

/** {@link nodeEndpointRequest}'s request (a class: cheaper to make per request than an object literal with a getter). */
class NodeEndpointRequest implements EndpointRequest {
  readonly method: string;
  readonly #headers: IncomingMessage["headers"];
  readonly #text: string;
  readonly #res: HangUpWatchable | undefined;
  #signal: AbortSignalLike | undefined;

  constructor(headers: IncomingMessage["headers"], method: string, text: string, res: HangUpWatchable | undefined) {
    this.method = method;
    this.#headers = headers;
    this.#text = text;
    this.#res = res;
  }

  header(name: string): string | null {
    const value = this.#headers[name];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  text(): Promise<string> {
    return Promise.resolve(this.#text);
  }

  get signal(): AbortSignalLike | undefined {
    if (this.#signal === undefined && this.#res !== undefined) this.#signal = hangUpWatch(this.#res);
    return this.#signal;
  }
}

/**
 * {@link hangUpSignal} without an `AbortController` (whose signal costs more to create than the rest of a small
 * request): aborted once `res` closed before it finished. A listener is called when that happens after it was added.
 * @internal shared with the express adapter
 */
export function hangUpWatch(res: HangUpWatchable): AbortSignalLike {
  return new HangUpWatch(res);
}

/** {@link hangUpWatch}'s signal. */
class HangUpWatch implements AbortSignalLike {
  readonly #res: HangUpWatchable;

  constructor(res: HangUpWatchable) {
    this.#res = res;
  }

  get aborted(): boolean {
    return this.#res.closed === true && !this.#res.writableFinished;
  }

  addEventListener(_type: "abort", listener: () => void): void {
    const res = this.#res;
    res.once("close", () => {
      if (!res.writableFinished) listener();
    });
  }
}

/**
 * The method as a fetch `Request` would hold it: DELETE, GET, HEAD, OPTIONS, POST and PUT in upper case whatever
 * their case, others as given; `"GET"` when missing.
 * @internal shared with the express adapter
 */
export function normalizeMethod(method: string | undefined): string {
  if (method === undefined) return "GET";
  if (method === "POST") return method;
  const upper = method.toUpperCase();
  return upper === "DELETE" || upper === "GET" || upper === "HEAD" || upper === "OPTIONS" || upper === "POST" || upper === "PUT" ? upper : method;
}

/**
 * Decodes a request body as fetch's `Request.text()` does: UTF-8 (invalid sequences become U+FFFD), a leading byte
 * order mark dropped.
 * @internal shared with the express adapter
 */
export function decodeBody(body: Uint8Array | string): string {
  const text = typeof body === "string" ? body : Buffer.isBuffer(body) ? body.toString("utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Reads a node request's whole body (event listeners: cheaper than async iteration).
 * @throws Error `Request body over 67108864 bytes` when it is larger than that (the rest is read and dropped); the
 *   request's error when it fails (the client aborted), or `Premature close` when it closes before its end
 */
function readIncomingBody(req: IncomingMessage): Promise<Buffer> {
  // as async iteration would: nothing left of an ended stream, the error of a destroyed one
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (req.destroyed) return Promise.reject(req.errored ?? new Error("Premature close"));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (error: Error): void => {
      if (done) return;
      done = true;
      reject(error);
    };
    req.on("data", (chunk: Buffer | string) => {
      if (done) return;
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buffer.length;
      // the rest is read and dropped (as async iteration left it: request destroyed, socket kept), so the 400 is seen
      if (size > MAX_BODY_BYTES) {
        chunks.length = 0;
        fail(new Error(`Request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(buffer);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on("error", fail);
    // (every request closes after its end: the error, whose stack costs, is made only when it closed before)
    req.on("close", () => {
      if (!done) fail(new Error("Premature close"));
    });
  });
}

/**
 * Reads the body of any {@link NodeRequestLike} (an async iterable of chunks), as {@link toFetchRequest} does.
 * @throws Error `Request body over 67108864 bytes` when it is larger (the iteration stops, which destroys a stream)
 * @internal shared with the express adapter
 */
export async function readNodeBody(req: NodeRequestLike): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error(`Request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Writes an endpoint answer to a node response: status, its headers and an explicit content-length, the JSON body.
 * @internal shared with the express adapter
 */
export function writeAnswer(res: NodeResponseLike | ServerResponse, answer: EndpointAnswer): void {
  if ("writeHead" in res && typeof res.writeHead === "function") {
    // one call instead of five setHeader; the explicit length keeps the answer un-chunked, as `end(bytes)` alone would.
    // The body goes as a string: node then sends the head and the body in one write (a Buffer body is a second one).
    res.writeHead(answer.status, Object.assign({ "Content-Length": Buffer.byteLength(answer.body, "utf8") }, answer.headers));
    res.end(answer.body);
    return;
  }
  res.statusCode = answer.status;
  for (const name in answer.headers) res.setHeader(name, answer.headers[name]!);
  res.end(Buffer.from(answer.body, "utf8"));
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
  // the usual request target is the path itself (maybe with a query): matched without parsing a URL
  const fastPath = new URL(path, "http://localhost").pathname === path;
  const server = createServer((req, res) => {
    const target = req.url ?? "/";
    const matches =
      fastPath && (target === path || (target.startsWith(path) && target.charCodeAt(path.length) === 0x3f)) ? true : new URL(target, "http://localhost").pathname === path;
    if (!matches) {
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
