import { HEADERS, SERVER_API_VERSION, type TriggerAction } from "@baton/core";

/** What came back from a call to a user's endpoint (`ok: false` = no HTTP response at all). */
export type EndpointReply =
  | { readonly ok: true; readonly status: number; readonly headers: Headers; readonly body: unknown; readonly text: string; readonly durationMs: number }
  | { readonly ok: false; readonly error: Error; readonly timedOut: boolean; readonly durationMs: number };

/**
 * POSTs one v2 action to an endpoint (reference §3.1): headers `x-trigger-api-key` (the environment's private key),
 * `x-trigger-action`, `x-trigger-version: 2023-09-29`, JSON body. Never throws: transport failures and time-outs
 * come back as `{ok: false}`. `timeoutMs` bounds the whole exchange.
 */
export async function callEndpoint(
  url: string,
  apiKey: string,
  action: TriggerAction,
  body: unknown,
  options: { timeoutMs: number; headers?: Record<string, string> },
): Promise<EndpointReply> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        [HEADERS.triggerApiKey]: apiKey,
        [HEADERS.triggerAction]: action,
        [HEADERS.triggerVersion]: SERVER_API_VERSION,
        "user-agent": "baton-server/0.1.0",
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { ok: true, status: response.status, headers: response.headers, body: parsed, text, durationMs: performance.now() - started };
  } catch (error) {
    const e = error as Error;
    const timedOut = e.name === "TimeoutError" || e.name === "AbortError";
    return {
      ok: false,
      error: timedOut ? new Error(`endpoint did not answer within ${options.timeoutMs} ms`) : new Error(`endpoint unreachable: ${describeFetchError(e)}`),
      timedOut,
      durationMs: performance.now() - started,
    };
  }
}

function describeFetchError(e: Error): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${cause.code} ${cause.message ?? ""}`.trim() : e.message;
}
