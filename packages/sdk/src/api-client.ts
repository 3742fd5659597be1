/**
 * HTTP client of the Baton server API (v2 reference §3.5).
 *
 * Every call sends `Authorization: Bearer <api key>`. 5xx answers and network errors are retried with
 * exponential backoff ({@link ApiClientOptions.retries} tries); a 4xx throws an {@link ApiError} carrying the
 * server's `{error:{code,message}}` message.
 */
import { ApiError } from "./errors";
import { ServerTask, type ApiEventLog, type BatonCompletedTask, type RawEvent, type SendEventOptions } from "@baton/core";
import { z } from "zod";

/** A `ServerTask` plus Baton's `outputMeta` (superjson meta of `output`, when the server has one). */
export const ServerTaskWithMeta = ServerTask.extend({ outputMeta: z.unknown().optional() });
export type ServerTaskWithMeta = z.infer<typeof ServerTaskWithMeta>;

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  readonly apiUrl: string;
  readonly apiKey: string | undefined;
  /** Retries after the first try on 5xx/network errors (default 4). */
  readonly retries?: number;
  /** Base backoff in ms, doubled per retry and capped at 2000 ms (default 100). */
  readonly backoffMs?: number;
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
  completedTasks?: BatonCompletedTask[];
}

/** Version headers of v2: task creation speaks 2023-09-29, completion 2023-11-01 (serialized output). */
export const CREATE_TASK_VERSION = "2023-09-29";
export const COMPLETE_TASK_VERSION = "2023-11-01";

/** Thin fetch wrapper for the server's public and run APIs. */
export class ApiClient {
  readonly #options: ApiClientOptions;
  /** Number of HTTP requests attempted (for tests and diagnostics). */
  requestCount = 0;

  constructor(options: ApiClientOptions) {
    this.#options = options;
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

  async #request(spec: RequestSpec): Promise<unknown> {
    const { apiKey, apiUrl } = this.#options;
    if (!apiKey) throw new ApiError(401, "Missing API key: set apiKey, BATON_API_KEY or TRIGGER_API_KEY");
    const retries = this.#options.retries ?? 4;
    const backoffMs = this.#options.backoffMs ?? 100;
    const url = `${apiUrl.replace(/\/+$/, "")}${spec.path}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      authorization: `Bearer ${apiKey}`,
      ...spec.headers,
    };
    if (spec.body !== undefined) headers["content-type"] = "application/json";

    let lastError: ApiError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(backoffMs * 2 ** (attempt - 1), 2000) + Math.random() * 50);
      this.requestCount++;
      let response: Response;
      try {
        response = await fetch(url, {
          method: spec.method,
          headers,
          cache: "no-cache",
          ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) }),
        });
      } catch (error) {
        lastError = new ApiError(0, `${spec.method} ${spec.path} failed: ${describeNetworkError(error)}`, undefined, error);
        this.#options.log?.("API request failed, retrying", { path: spec.path, attempt });
        continue;
      }
      const text = await response.text();
      const parsed = parseJson(text);
      if (response.ok) return parsed;
      const { code, message } = readErrorEnvelope(parsed, text, response.status);
      lastError = new ApiError(response.status, `${spec.method} ${spec.path} failed with ${response.status}: ${message}`, code);
      if (response.status < 500) throw lastError;
      this.#options.log?.("API request got a 5xx, retrying", { path: spec.path, status: response.status, attempt });
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
