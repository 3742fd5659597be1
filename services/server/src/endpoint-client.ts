import http from "node:http";
import https from "node:https";
import { HEADERS, SERVER_API_VERSION, type TriggerAction } from "@baton/core";
import { BoundedMemo } from "./bounded-memo";

/** Response headers of an endpoint's answer, by lower- or mixed-case name (the first value of a repeated header joined). */
export interface ReplyHeaders {
  get(name: string): string | null;
}

/** What came back from a call to a user's endpoint (`ok: false` = no HTTP response at all). */
export type EndpointReply =
  | { readonly ok: true; readonly status: number; readonly headers: ReplyHeaders; readonly body: unknown; readonly text: string; readonly durationMs: number }
  | { readonly ok: false; readonly error: Error; readonly timedOut: boolean; readonly durationMs: number };

/**
 * Hangs up an in-flight endpoint call (e.g. a cancel of the run it executes). A one-listener switch instead of an
 * AbortController: creating Node's AbortSignal costs about 2% of the server's CPU when one is made per execution.
 */
export class Hangup {
  #aborted = false;
  #listener: (() => void) | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Hangs up (once; later calls do nothing). */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }

  /** Calls `fn` on {@link abort} (one listener; a new one replaces it). @returns a function that removes it. */
  onAbort(fn: () => void): () => void {
    this.#listener = fn;
    return () => {
      if (this.#listener === fn) this.#listener = undefined;
    };
  }
}

// Keep-alive connection pools: an execution is one request to an endpoint that is usually called again soon.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });

/** Where a request to an endpoint URL goes, as node:http request options (what `http.request(url)` derives per call). */
interface RequestTarget {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly path: string;
  readonly auth?: string;
}

/** The request options of an endpoint URL, or null when it is not a valid URL. */
function parseRequestTarget(url: string): RequestTarget | null {
  try {
    const parsed = new URL(url);
    // as node's urlToHttpOptions: brackets off an IPv6 host, credentials decoded
    const hostname = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
    const auth = parsed.username || parsed.password ? `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}` : undefined;
    return { protocol: parsed.protocol, hostname, port: parsed.port, path: `${parsed.pathname}${parsed.search}`, ...(auth ? { auth } : {}) };
  } catch {
    return null;
  }
}

/** Parsed endpoint URLs (a handful per server): parsing one per execution was ~1% of a run. */
const requestTargets = new BoundedMemo(parseRequestTarget, 1000);

/**
 * POSTs one v2 action to an endpoint (reference §3.1): headers `x-trigger-api-key` (the environment's private key),
 * `x-trigger-action`, `x-trigger-version: 2023-09-29`, JSON body. Never throws: transport failures and time-outs
 * come back as `{ok: false}`. `timeoutMs` bounds the whole exchange. Uses node:http with keep-alive agents (cheaper
 * per call than fetch on the dispatcher's hot path).
 */
export async function callEndpoint(
  url: string,
  apiKey: string,
  action: TriggerAction,
  body: unknown,
  options: { timeoutMs: number; headers?: Record<string, string>; hangup?: Hangup },
): Promise<EndpointReply> {
  const started = performance.now();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const elapsed = (): number => performance.now() - started;
  const target = requestTargets.get(url);
  if (!target) return { ok: false, error: new Error(`endpoint URL ${url} is not valid`), timedOut: false, durationMs: elapsed() };
  const client = target.protocol === "https:" ? https : http;
  return await new Promise<EndpointReply>((resolve) => {
    let settled = false;
    const settle = (reply: EndpointReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const request = client.request(
      {
        // listed, not spread: a spread followed by more keys is a slow path on Node 20's V8
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        path: target.path,
        auth: target.auth,
        method: "POST",
        agent: target.protocol === "https:" ? httpsAgent : httpAgent,
        headers: {
          [HEADERS.triggerApiKey]: apiKey,
          [HEADERS.triggerAction]: action,
          [HEADERS.triggerVersion]: SERVER_API_VERSION,
          "user-agent": "baton-server/0.1.0",
          accept: "application/json",
          ...(payload === undefined ? { "content-length": "0" } : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => settle({ ok: false, error: new Error(`endpoint response failed: ${error.message}`), timedOut: false, durationMs: elapsed() }));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const raw = response.headers;
          const headers: ReplyHeaders = {
            get: (name) => {
              const value = raw[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
            },
          };
          settle({ ok: true, status: response.statusCode ?? 0, headers, body: parsed, text, durationMs: elapsed() });
        });
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      settle({ ok: false, error: new Error(`endpoint did not answer within ${options.timeoutMs} ms`), timedOut: true, durationMs: elapsed() });
    }, options.timeoutMs);
    const hangup = options.hangup;
    const onAbort = (): void => {
      request.destroy();
      settle({ ok: false, error: new Error("the request was aborted (the run was canceled)"), timedOut: false, durationMs: elapsed() });
    };
    if (hangup?.aborted) onAbort();
    else if (hangup) request.on("close", hangup.onAbort(onAbort));
    request.on("error", (error: NodeJS.ErrnoException) => {
      settle({ ok: false, error: new Error(`endpoint unreachable: ${error.code ? `${error.code} ` : ""}${error.message}`.trim()), timedOut: false, durationMs: elapsed() });
    });
    request.end(payload);
  });
}
