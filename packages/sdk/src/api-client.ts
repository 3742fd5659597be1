/**
 * HTTP client of the Baton server API (v2 reference §3.5).
 *
 * Every call sends `Authorization: Bearer <api key>`. 5xx answers and network errors (time-outs included) are
 * retried with exponential backoff ({@link ApiClientOptions.retries} tries); a 4xx throws an {@link ApiError}
 * carrying the server's `{error:{code,message}}` message.
 *
 * Requests go through an {@link ApiTransport}: by default {@link httpTransport} (node:http / node:https with
 * keep-alive agents, cheaper per call than `fetch` on the run hot path). A caller may wrap it to observe, log or
 * delay calls.
 */
import http from "node:http";
import https from "node:https";
import { ApiError } from "./errors";
import { ServerTask, TaskReportResult, type ApiEventLog, type BatonCompletedTask, type BatonStartedTask, type RawEvent, type SendEventOptions, type TaskReportBody } from "@baton/core";
import { z } from "zod";

/** A `ServerTask` plus Baton's `outputMeta` (superjson meta of `output`, when the server has one). */
export const ServerTaskWithMeta = ServerTask.extend({ outputMeta: z.unknown().optional() });
export type ServerTaskWithMeta = z.infer<typeof ServerTaskWithMeta>;

/** Default {@link ApiClientOptions.timeoutMs}: 60 s, far above any healthy answer of the server. */
export const DEFAULT_API_TIMEOUT_MS = 60_000;

/** One HTTP request to the server API, as handed to an {@link ApiTransport} (one per try: retries come again). */
export interface ApiTransportRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Absolute URL: the client's `apiUrl` followed by {@link ApiTransportRequest.path}. */
  readonly url: string;
  /** Path and query string below `apiUrl`, e.g. `/api/v1/runs/run_1/tasks`. */
  readonly path: string;
  /** Request headers (lower-case `accept`, `authorization`, `user-agent`, `content-type` with a body, then per-call ones). */
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text of the body, or `undefined` for none. */
  readonly body: string | undefined;
  /** The whole exchange must end within this many ms; the transport rejects when it does not. */
  readonly timeoutMs: number;
  /** 0 for the first try, then 1, 2, ... for each retry of the same call. */
  readonly attempt: number;
}

/** The server's answer to an {@link ApiTransportRequest}: any HTTP status (4xx/5xx included) and the raw body. */
export interface ApiTransportResponse {
  /** HTTP status code. */
  readonly status: number;
  /** Response body bytes (JSON from the Baton server; empty for none). */
  readonly body: Buffer;
}

/**
 * Sends one request to the server API. Resolves with whatever status the server answered; rejects only when there
 * is no complete answer (connection refused or reset, DNS failure, time-out), which the {@link ApiClient} treats
 * as a network error and retries.
 *
 * Wrap {@link httpTransport} to observe calls for diagnostics, or to inject latency in tests:
 * @example
 * const logged: ApiTransport = async (request) => {
 *   const started = performance.now();
 *   const response = await httpTransport(request);
 *   console.debug(`${request.method} ${request.path} ${response.status} ${(performance.now() - started).toFixed(1)} ms`);
 *   return response;
 * };
 * new TriggerClient({ id: "my-app", apiTransport: logged });
 */
export type ApiTransport = (request: ApiTransportRequest) => Promise<ApiTransportResponse>;

/**
 * Connection pools of {@link httpTransport}, shared by every client of the process: clients calling the same
 * server share warm sockets, and there is nothing to close (a `TriggerClient` has no lifetime of its own; its
 * `listen()` endpoint is a different, incoming server). An idle keep-alive socket never keeps the process alive:
 * node's Agent unrefs the sockets it keeps free, and drops them by the server's `Keep-Alive: timeout=N` hint
 * (Node's own HTTP server says 5 s; current Node releases drop them 1 s early), so a request rarely meets a socket
 * the server is closing (when it does, the try fails as a network error and is retried). 64 sockets per host bound
 * the connections one process opens to the server; further requests queue in the agent.
 */
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
/** Longest delay setTimeout honours, ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The default {@link ApiTransport}: node:http (node:https for `https:` URLs) over the shared keep-alive agents,
 * the body read into one Buffer. Rejects on a connection error, on a response cut short, on a URL that is not
 * http(s), and when no complete answer arrived within `request.timeoutMs` ms (the request is then destroyed).
 */
export const httpTransport: ApiTransport = (request) =>
  new Promise<ApiTransportResponse>((resolve, reject) => {
    const target = new URL(request.url);
    const secure = target.protocol === "https:";
    if (!secure && target.protocol !== "http:") {
      reject(new Error(`unsupported protocol ${target.protocol} in ${request.url} (use http: or https:)`));
      return;
    }
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    const headers: Record<string, string> = { ...request.headers };
    // Always a length: a body-less POST is `content-length: 0` (as fetch sends), never chunked.
    if (request.body !== undefined || request.method === "POST" || request.method === "PUT") {
      headers["content-length"] = String(request.body === undefined ? 0 : Buffer.byteLength(request.body));
    }
    const options: http.RequestOptions = { method: request.method, headers, agent: secure ? httpsAgent : httpAgent };
    const onResponse = (response: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", fail);
      response.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      });
      // destroyed before its end (socket closed mid-body): no "end" will come
      response.on("close", () => {
        if (!response.complete) fail(new Error("the connection closed before the response ended"));
      });
    };
    const outgoing = secure ? https.request(target, options, onResponse) : http.request(target, options, onResponse);
    // (clamped: setTimeout turns a delay above 2^31 - 1 ms into 1 ms)
    const timer = setTimeout(() => {
      const error = new Error(`no answer within ${request.timeoutMs} ms`);
      fail(error);
      outgoing.destroy(error);
    }, Math.min(request.timeoutMs, MAX_TIMER_MS));
    outgoing.on("error", fail);
    outgoing.end(request.body);
  });

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  readonly apiUrl: string;
  readonly apiKey: string | undefined;
  /** Retries after the first try on 5xx/network errors (default 4). */
  readonly retries?: number;
  /** Base backoff in ms, doubled per retry and capped at 2000 ms (default 100). */
  readonly backoffMs?: number;
  /**
   * Longest wait for one try's complete answer, ms (default {@link DEFAULT_API_TIMEOUT_MS}, 60 s): a hung socket
   * then fails the try, which is retried like any network error, instead of hanging the run forever.
   */
  readonly timeoutMs?: number;
  /** Sends each try (default {@link httpTransport}); wrap it to observe or delay the client's calls. */
  readonly transport?: ApiTransport;
  readonly log?: (message: string, data?: unknown) => void;
}

/** One request to the server. */
interface RequestSpec {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Body of `POST /api/v1/runs/:runId/tasks` (v2 `RunTaskBodyInput` plus Baton's `completedTasks`). */
export interface CreateTaskBody {
  idempotencyKey: string;
  displayKey?: string;
  parentId?: string;
  noop: boolean;
  name?: string;
  icon?: string;
  description?: string;
  properties?: unknown[];
  params?: unknown;
  style?: { style: "normal" | "minimal"; variant?: string };
  retry?: unknown;
  delayUntil?: Date;
  redact?: { paths: string[] };
  parallel?: boolean;
  connectionKey?: string;
  startedTasks?: BatonStartedTask[];
  completedTasks?: BatonCompletedTask[];
}

/** Version headers of v2: task creation speaks 2023-09-29, completion 2023-11-01 (serialized output). */
export const CREATE_TASK_VERSION = "2023-09-29";
export const COMPLETE_TASK_VERSION = "2023-11-01";

/** `user-agent` of every request to the server. */
const USER_AGENT = "baton-sdk";

/** Thin client of the server's public and run APIs over an {@link ApiTransport}. */
export class ApiClient {
  readonly #options: ApiClientOptions;
  readonly #transport: ApiTransport;
  /** Number of HTTP requests attempted, retries included (for tests and diagnostics). */
  requestCount = 0;

  constructor(options: ApiClientOptions) {
    this.#options = options;
    this.#transport = options.transport ?? httpTransport;
  }

  get apiUrl(): string {
    return this.#options.apiUrl;
  }

  /** `POST /api/v1/runs/:runId/tasks` with `Idempotency-Key`; returns the `ServerTask`. */
  async createTask(runId: string, body: CreateTaskBody): Promise<ServerTaskWithMeta> {
    const raw = await this.#request({
      method: "POST",
      path: `/api/v1/runs/${encodeURIComponent(runId)}/tasks`,
      body,
      headers: { "Idempotency-Key": body.idempotencyKey, "Trigger-Version": CREATE_TASK_VERSION },
    });
    // With Trigger-Version 2023-09-29 a v2 server may answer {task, cachedTasks}.
    const candidate = isRecord(raw) && isRecord(raw["task"]) && !("idempotencyKey" in raw) ? raw["task"] : raw;
    return ServerTaskWithMeta.parse(candidate);
  }

  /** `POST /api/v1/runs/:runId/tasks/:id/complete` with `{output?: JSON string, outputMeta?, properties?}`. */
  async completeTask(runId: string, completion: BatonCompletedTask): Promise<unknown> {
    const { id, ...body } = completion;
    return this.#request({
      method: "POST",
      path: `/api/v1/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(id)}/complete`,
      body,
      headers: { "Trigger-Version": COMPLETE_TASK_VERSION },
    });
  }

  /**
   * `POST /api/v1/runs/:runId/tasks/report` (Baton protocol 2): task starts and completions flushed on their own.
   * Answers the run's status (`CANCELED`: stop the execution).
   * @throws ApiError on a 4xx, or after the retries on network errors and 5xx.
   */
  async reportTasks(runId: string, reports: TaskReportBody): Promise<TaskReportResult> {
    const raw = await this.#request({ method: "POST", path: `/api/v1/runs/${encodeURIComponent(runId)}/tasks/report`, body: reports });
    return TaskReportResult.parse(raw);
  }

  /** `POST /api/v1/runs/:runId/tasks/:id/fail` with `{error:{message,name?,stack?}}`. */
  async failTask(runId: string, id: string, error: { message: string; name?: string; stack?: string }): Promise<unknown> {
    return this.#request({
      method: "POST",
      path: `/api/v1/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(id)}/fail`,
      body: { error },
    });
  }

  /** `POST /api/v1/events`. */
  async sendEvent(event: RawEvent, options?: SendEventOptions): Promise<ApiEventLog> {
    return (await this.#request({ method: "POST", path: "/api/v1/events", body: { event, options } })) as ApiEventLog;
  }

  /** `POST /api/v1/events/bulk`. */
  async sendEvents(events: readonly RawEvent[], options?: SendEventOptions): Promise<ApiEventLog[]> {
    return (await this.#request({ method: "POST", path: "/api/v1/events/bulk", body: { events, options } })) as ApiEventLog[];
  }

  /** `POST /api/v1/events/:id/cancel`. */
  async cancelEvent(eventId: string): Promise<ApiEventLog> {
    return (await this.#request({ method: "POST", path: `/api/v1/events/${encodeURIComponent(eventId)}/cancel` })) as ApiEventLog;
  }

  /** `GET /api/v2/events/:id`. */
  async getEvent(eventId: string): Promise<unknown> {
    return this.#request({ method: "GET", path: `/api/v2/events/${encodeURIComponent(eventId)}` });
  }

  /** `GET /api/v2/runs/:runId` with optional query (`subtasks`, `cursor`, `take`, `taskdetails`). */
  async getRun(runId: string, query?: Readonly<Record<string, string | number | boolean | undefined>>): Promise<unknown> {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) search.set(k, String(v));
    const qs = search.size > 0 ? `?${search.toString()}` : "";
    return this.#request({ method: "GET", path: `/api/v2/runs/${encodeURIComponent(runId)}${qs}` });
  }

  /** `POST /api/v1/runs/:runId/cancel`. */
  async cancelRun(runId: string): Promise<unknown> {
    return this.#request({ method: "POST", path: `/api/v1/runs/${encodeURIComponent(runId)}/cancel` });
  }

  /** `POST /api/v1/jobs/:jobId/invoke` with optional `Idempotency-Key`. */
  async invokeJob(
    jobId: string,
    body: { payload: unknown; context?: unknown; options?: { accountId?: string; callbackUrl?: string } },
    idempotencyKey?: string,
  ): Promise<{ id: string; [key: string]: unknown }> {
    return (await this.#request({
      method: "POST",
      path: `/api/v1/jobs/${encodeURIComponent(jobId)}/invoke`,
      body,
      headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
    })) as { id: string };
  }

  /** `POST /api/v1/endpoints` `{id, url}`: register the endpoint; the server indexes it. */
  async registerEndpoint(body: { id: string; url: string }): Promise<unknown> {
    return this.#request({ method: "POST", path: "/api/v1/endpoints", body });
  }

  /**
   * Sends `spec`, retrying network errors and 5xx; returns the parsed JSON body (the text when it is not JSON,
   * `undefined` when empty).
   * @throws ApiError status 401 without an API key; the status and server message on a 4xx; on the last 5xx or
   *   network error (status 0) once the retries are spent
   */
  async #request(spec: RequestSpec): Promise<unknown> {
    const { apiKey, apiUrl } = this.#options;
    if (!apiKey) throw new ApiError(401, "Missing API key: set apiKey, BATON_API_KEY or TRIGGER_API_KEY");
    const retries = this.#options.retries ?? 4;
    const backoffMs = this.#options.backoffMs ?? 100;
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    const url = `${apiUrl.replace(/\/+$/, "")}${spec.path}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      authorization: `Bearer ${apiKey}`,
      "user-agent": USER_AGENT,
      ...spec.headers,
    };
    if (spec.body !== undefined) headers["content-type"] = "application/json";
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);

    let lastError: ApiError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(backoffMs * 2 ** (attempt - 1), 2000) + Math.random() * 50);
      this.requestCount++;
      let response: ApiTransportResponse;
      try {
        response = await this.#transport({ method: spec.method, url, path: spec.path, headers, body, timeoutMs, attempt });
      } catch (error) {
        lastError = new ApiError(0, `${spec.method} ${spec.path} failed: ${describeNetworkError(error)}`, undefined, error);
        this.#options.log?.("API request failed, retrying", { path: spec.path, attempt });
        continue;
      }
      const { status } = response;
      const text = response.body.toString("utf8");
      const parsed = parseJson(text);
      if (status >= 200 && status < 300) return parsed;
      const { code, message } = readErrorEnvelope(parsed, text, status);
      lastError = new ApiError(status, `${spec.method} ${spec.path} failed with ${status}: ${message}`, code);
      if (status < 500) throw lastError;
      this.#options.log?.("API request got a 5xx, retrying", { path: spec.path, status, attempt });
    }
    throw lastError ?? new ApiError(0, `${spec.method} ${spec.path} failed`);
  }
}

function readErrorEnvelope(parsed: unknown, text: string, status: number): { code: string | undefined; message: string } {
  if (isRecord(parsed)) {
    const error = parsed["error"];
    if (isRecord(error) && typeof error["message"] === "string") {
      return { code: typeof error["code"] === "string" ? error["code"] : undefined, message: error["message"] };
    }
    if (typeof error === "string") return { code: undefined, message: error };
    if (typeof parsed["message"] === "string") return { code: undefined, message: parsed["message"] };
  }
  return { code: undefined, message: text.slice(0, 500) || `HTTP ${status}` };
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    if (cause instanceof Error && cause.message) return `${error.message} (${cause.message})`;
    return error.message;
  }
  return String(error);
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
