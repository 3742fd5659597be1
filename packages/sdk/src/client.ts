/**
 * `TriggerClient`: defines jobs, serves the endpoint the server calls (`handleRequest`), and calls the server API.
 */
import { timingSafeEqual } from "node:crypto";
import { ApiClient, type ApiTransport } from "./api-client";
import {
  AutoYieldExecutionError,
  AutoYieldWithCompletedTaskExecutionError,
  BatonError,
  CanceledWithTaskError,
  ErrorWithTask,
  ParsedPayloadSchemaError,
  ResumeWithParallelTaskError,
  ResumeWithTaskError,
  RetryWithTaskError,
  YieldExecutionError,
  toErrorBody,
} from "./errors";
import { Execution, LOG_LEVELS, runScope, type LogLevel } from "./execution";
import type { AnyIntegration } from "./integrations";
import { failedTaskInfo, IO } from "./io";
import { Job, type JobOptions, type TriggerContext } from "./job";
import {
  API_KEY_PATTERN,
  BATON_PROTOCOL_VERSION as CORE_BATON_PROTOCOL_VERSION,
  compileFastParser,
  FAST_PARSE_FAILED,
  Json as JsonSchema,
  RunJobBody,
  type ApiEventLog,
  type IndexEndpointResponse,
  type Json,
  type RunJobErrorResponse,
  type RunJobResponse,
  type RawEvent,
  type SendEventOptions,
} from "@baton/core";
import { DEFAULT_OUTPUT_LIMIT_BYTES, toRunOutputJson } from "./serialization";
import { formatKeyPath } from "./task-key";
import type { Trigger } from "./triggers/types";

/** How long an execution the server hung up on stays available to the run's next execution (ms; see Execution.adopt). */
const HUNG_UP_RETENTION_MS = 60_000;

/**
 * `RunJobBody.parse` for the bodies it is sure about (what the zod parse would return, built without zod's generic
 * machinery); every other body, invalid ones included, goes through the zod parse.
 */
const fastRunJobBody = compileFastParser(RunJobBody, [JsonSchema]);

/** Default server URL when neither `apiUrl` nor BATON_API_URL/TRIGGER_API_URL is set. */
export const DEFAULT_API_URL = "http://localhost:3030";
/** Value of the `x-baton-protocol` header on every endpoint response (Baton protocol extension; core's version). */
export const BATON_PROTOCOL_VERSION = CORE_BATON_PROTOCOL_VERSION;
/** `trigger-version` header on every endpoint response (v2 API version with lazy loading and yields). */
export const TRIGGER_API_VERSION = "2023-09-29";
/** SDK version reported in `trigger-sdk-version`. */
export const SDK_VERSION = "0.1.0";
/** Longest PROBE_EXECUTION_TIMEOUT sleep, ms (v2 default 15 min). */
const MAX_PROBE_TIMEOUT_MS = 15 * 60 * 1000;

/** Options of {@link TriggerClient}. */
export interface TriggerClientOptions {
  /** Endpoint id; compared with `x-trigger-endpoint-id` on PING and sent when registering the endpoint. */
  readonly id: string;
  /** `tr_<env>_<random>`; default env BATON_API_KEY, then TRIGGER_API_KEY. */
  readonly apiKey?: string;
  /** Server URL; default env BATON_API_URL, then TRIGGER_API_URL, then http://localhost:3030. */
  readonly apiUrl?: string;
  /** Default `io.logger` level of jobs (`log` < `error` < `warn` < `info` < `debug`); default "info". */
  readonly logLevel?: LogLevel;
  /** Print SDK debug messages to the console. */
  readonly verbose?: boolean;
  /** Largest task output in bytes (default 3 MiB). */
  readonly outputLimitBytes?: number;
  /**
   * Longest wait for one try of a server API call, ms (default 60 000): a try that gets no complete answer in time
   * fails like a network error and is retried.
   */
  readonly apiTimeoutMs?: number;
  /**
   * Sends each HTTP request of this client to the server API (default `httpTransport`: node:http with keep-alive).
   * Wrap `httpTransport` to observe, log or delay calls (diagnostics, tests); see {@link ApiTransport}.
   */
  readonly apiTransport?: ApiTransport;
}

/** Options of {@link TriggerClient.listen}. */
export interface ListenOptions {
  readonly port: number;
  /** Default "127.0.0.1". */
  readonly host?: string;
  /** Default "/api/trigger". */
  readonly path?: string;
}

/** A running standalone endpoint. */
export interface ListeningEndpoint {
  /** Full URL of the endpoint, e.g. `http://127.0.0.1:4000/api/trigger`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * One request from the server as the endpoint's router reads it: the transport-neutral part of a fetch `Request` or
 * a node `IncomingMessage`, so that the node adapters answer without building fetch objects.
 * @internal for the adapters ({@link TriggerClient.handleEndpointRequest})
 */
export interface EndpointRequest {
  /** HTTP method, e.g. `"POST"` (standard methods in upper case, as a fetch `Request` normalizes them). */
  readonly method: string;
  /** The value of header `name` (given in lower case), several values joined with `", "`; null when absent. */
  header(name: string): string | null;
  /**
   * The body decoded as UTF-8 with a leading byte order mark removed (as fetch's `Request.text()`), `""` when there
   * is none. Called at most once; a rejection (an unreadable body) is answered like a throw of the router.
   */
  text(): Promise<string>;
  /**
   * Aborted when the server hangs up before the answer is written (see `hangUpSignal`). Read only by EXECUTE_JOB,
   * after the body, so an adapter may create it on first read (a getter).
   */
  readonly signal?: AbortSignalLike | undefined;
}

/**
 * The part of an `AbortSignal` an execution reads to learn that the server hung up (any `AbortSignal` fits): the node
 * adapters implement it over the response's state, which costs less than an `AbortController`. The SDK reads
 * `aborted` when it needs to know (at each task, and when answering) rather than listening.
 */
export interface AbortSignalLike {
  /** True once aborted. */
  readonly aborted: boolean;
  /** Calls `listener` once, when it gets aborted (not when it already is: read `aborted` first). */
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
}

/** The answer to an {@link EndpointRequest}, ready to write. @internal for the adapters */
export interface EndpointAnswer {
  /** HTTP status code. */
  readonly status: number;
  /**
   * Response headers, names in lower case and sorted: content-type, trigger-sdk-version, trigger-version,
   * x-baton-protocol and x-trigger-request-timing (`dur=<seconds>`). No content-length: the writer adds it if it wants.
   */
  readonly headers: Record<string, string>;
  /** The JSON body text (UTF-8 on the wire). */
  readonly body: string;
}

/** Client of one endpoint: job registry, request handler and server API. */
export class TriggerClient {
  readonly id: string;
  readonly #apiKey: string | undefined;
  readonly #api: ApiClient;
  readonly #logLevel: LogLevel | undefined;
  readonly #verbose: boolean;
  readonly #outputLimitBytes: number;
  readonly #jobs = new Map<string, Job<any, any, any>>();
  /** {@link #debug} as a function (given to each execution). */
  readonly #log = (message: string, data?: unknown): void => this.#debug(message, data);
  /** The latest execution of each run in this process whose task reports may still be undelivered. */
  readonly #unreported = new Map<string, Execution>();

  /**
   * @throws BatonError `CONFIG_INVALID` for an empty id, an unknown log level or an `apiTimeoutMs` that is not a
   *   positive number; `API_KEY_INVALID` when the key
   *   does not look like `tr_<env>_<random>` (a missing key only fails when the server is called or calls us)
   */
  constructor(options: TriggerClientOptions) {
    if (typeof options.id !== "string" || options.id.length === 0) {
      throw new BatonError("CONFIG_INVALID", "TriggerClient: `id` must be a non-empty string");
    }
    const apiKey = options.apiKey ?? process.env["BATON_API_KEY"] ?? process.env["TRIGGER_API_KEY"];
    if (apiKey !== undefined && !API_KEY_PATTERN.test(apiKey)) {
      throw new BatonError(
        "API_KEY_INVALID",
        `TriggerClient "${options.id}": invalid API key "${apiKey.slice(0, 7)}…": expected the shape tr_<env>_<random> (e.g. tr_dev_abc123)`,
      );
    }
    if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
      throw new BatonError("CONFIG_INVALID", `TriggerClient: unknown logLevel "${String(options.logLevel)}" (one of ${LOG_LEVELS.join(", ")})`);
    }
    if (options.apiTimeoutMs !== undefined && !(Number.isFinite(options.apiTimeoutMs) && options.apiTimeoutMs > 0)) {
      throw new BatonError("CONFIG_INVALID", `TriggerClient: apiTimeoutMs must be a positive number of ms, got ${String(options.apiTimeoutMs)}`);
    }
    this.id = options.id;
    this.#apiKey = apiKey;
    this.#logLevel = options.logLevel;
    this.#verbose = options.verbose ?? false;
    this.#outputLimitBytes = options.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT_BYTES;
    const apiUrl = options.apiUrl ?? process.env["BATON_API_URL"] ?? process.env["TRIGGER_API_URL"] ?? DEFAULT_API_URL;
    this.#api = new ApiClient({
      apiUrl,
      apiKey,
      ...(options.apiTimeoutMs !== undefined ? { timeoutMs: options.apiTimeoutMs } : {}),
      ...(options.apiTransport !== undefined ? { transport: options.apiTransport } : {}),
      log: (message, data) => this.#debug(message, data),
    });
  }

  /** The server URL this client calls. */
  get apiUrl(): string {
    return this.#api.apiUrl;
  }

  /** @internal HTTP requests made to the server so far (for tests). */
  get apiRequestCount(): number {
    return this.#api.requestCount;
  }

  /**
   * Defines a job served by this client. A second job with the same id replaces the first (as v2), with a warning.
   * @throws BatonError `JOB_VERSION_INVALID` naming the version when it is not `x.y.z`
   */
  defineJob<TTrigger extends Trigger<any>, TIntegrations extends Record<string, AnyIntegration> = Record<string, never>, TOutput = unknown>(
    options: JobOptions<TTrigger, TIntegrations, TOutput>,
  ): Job<TTrigger, TIntegrations, TOutput> {
    const job = new Job(options, () => this.#api);
    if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
      throw new BatonError("CONFIG_INVALID", `defineJob "${options.id}": unknown logLevel "${String(options.logLevel)}"`);
    }
    if (this.#jobs.has(job.id)) console.warn(`[baton] job "${job.id}" defined twice; the last definition wins`);
    this.#jobs.set(job.id, job);
    return job;
  }

  /** Jobs defined on this client. */
  get jobs(): ReadonlyArray<Job<any, any, any>> {
    return [...this.#jobs.values()];
  }

  /** Sends an event (`POST /api/v1/events`); returns the stored event. */
  async sendEvent(event: RawEvent, options?: SendEventOptions): Promise<ApiEventLog> {
    return this.#api.sendEvent(event, options);
  }

  /** Sends several events (`POST /api/v1/events/bulk`). */
  async sendEvents(events: readonly RawEvent[], options?: SendEventOptions): Promise<ApiEventLog[]> {
    return this.#api.sendEvents(events, options);
  }

  /** Cancels a delayed event (`POST /api/v1/events/:id/cancel`). */
  async cancelEvent(eventId: string): Promise<ApiEventLog> {
    return this.#api.cancelEvent(eventId);
  }

  /** The event and the runs it started (`GET /api/v2/events/:id`). */
  async getEvent(eventId: string): Promise<unknown> {
    return this.#api.getEvent(eventId);
  }

  /** A run with its tasks, output and error (`GET /api/v2/runs/:runId`). */
  async getRun(runId: string, options?: { subtasks?: boolean; cursor?: string; take?: number; taskdetails?: boolean }): Promise<unknown> {
    return this.#api.getRun(runId, options);
  }

  /** Cancels a run (`POST /api/v1/runs/:runId/cancel`); final. */
  async cancelRun(runId: string): Promise<unknown> {
    return this.#api.cancelRun(runId);
  }

  /** Registers this endpoint (`POST /api/v1/endpoints {id, url}`); the server then indexes it. */
  async registerEndpoint(options: { url: string }): Promise<unknown> {
    return this.#api.registerEndpoint({ id: this.id, url: options.url });
  }

  /**
   * Handles one request from the server (fetch standard). Checks `x-trigger-api-key` (401 when missing or
   * different), POST only (405), `x-trigger-action` (400 when missing, 405 when unknown), then answers PING,
   * VALIDATE, INDEX_ENDPOINT, EXECUTE_JOB (404 for an unknown job, 400 for an invalid body), RUN_NOTIFICATION
   * and PROBE_EXECUTION_TIMEOUT. Always JSON; every response carries `x-baton-protocol: 1` and
   * `trigger-version: 2023-09-29`.
   */
  async handleRequest(request: Request): Promise<Response> {
    const answer = await this.handleEndpointRequest(fromFetchRequest(request));
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  }

  /**
   * {@link handleRequest} without fetch objects: answers `request` (same checks, bodies and headers) with its status,
   * headers and JSON text. Errors of the router (a rejected `request.text()` included) become a 500 answer, an
   * unreadable EXECUTE_JOB body a 400; it rejects only when `JSON.stringify` cannot write the answer (no answer of
   * the router does that), as `handleRequest` does.
   * @internal used by the node and express adapters, which read an `IncomingMessage` directly
   */
  async handleEndpointRequest(request: EndpointRequest): Promise<EndpointAnswer> {
    const started = performance.now();
    let result: { status: number; body: unknown };
    try {
      result = await this.#route(request);
    } catch (error) {
      this.#debug("handleRequest failed", error);
      result = errorResult(500, "internal", error instanceof Error ? error.message : String(error));
    }
    const body = JSON.stringify(result.body ?? null);
    return {
      status: result.status,
      // in the order fetch's Headers lists them (sorted), so the node adapters write them as handleRequest's did
      headers: {
        "content-type": "application/json",
        "trigger-sdk-version": SDK_VERSION,
        "trigger-version": TRIGGER_API_VERSION,
        "x-baton-protocol": String(BATON_PROTOCOL_VERSION),
        "x-trigger-request-timing": `dur=${((performance.now() - started) / 1000).toFixed(3)}`,
      },
      body,
    };
  }

  /**
   * Serves this client on node:http at `http://host:port/path` (default host 127.0.0.1, path /api/trigger).
   * Port 0 picks a free port; the returned `url` has the real one.
   */
  async listen(options: ListenOptions): Promise<ListeningEndpoint> {
    const { listenNode } = await import("./adapters/node");
    return listenNode(this, options);
  }

  async #route(request: EndpointRequest): Promise<{ status: number; body: unknown }> {
    const given = request.header("x-trigger-api-key");
    if (!given) return errorResult(401, "unauthorized", "Unauthorized: missing x-trigger-api-key header");
    if (!this.#apiKey) return errorResult(401, "unauthorized", "Unauthorized: client missing apiKey");
    if (!sameSecret(given, this.#apiKey)) {
      return errorResult(401, "unauthorized", "Forbidden: client apiKey mismatch: the x-trigger-api-key header is not this client's API key");
    }
    if (request.method !== "POST") return errorResult(405, "method_not_allowed", `Method ${request.method} not allowed: use POST`);
    const action = request.header("x-trigger-action");
    if (!action) return errorResult(400, "bad_request", "Missing x-trigger-action header");

    switch (action) {
      case "PING": {
        const endpointId = request.header("x-trigger-endpoint-id");
        if (!endpointId) return { status: 200, body: { ok: false, error: "Missing endpoint ID (x-trigger-endpoint-id header)" } };
        if (endpointId !== this.id) {
          return { status: 200, body: { ok: false, error: `Endpoint ID mismatch error. Expected ${this.id}, got ${endpointId}` } };
        }
        return { status: 200, body: { ok: true } };
      }
      case "VALIDATE":
        return { status: 200, body: { ok: true, endpointId: this.id } };
      case "INDEX_ENDPOINT":
        return { status: 200, body: this.indexEndpoint() };
      case "EXECUTE_JOB":
        return this.#executeJobRequest(request);
      case "RUN_NOTIFICATION":
        await request.text();
        return { status: 200, body: { ok: true } };
      case "PROBE_EXECUTION_TIMEOUT": {
        const body = (await readJson(request)) as { timeout?: unknown } | undefined;
        const timeout = typeof body?.timeout === "number" && body.timeout > 0 ? Math.min(body.timeout, MAX_PROBE_TIMEOUT_MS) : MAX_PROBE_TIMEOUT_MS;
        await new Promise((resolve) => setTimeout(resolve, timeout));
        return { status: 200, body: { ok: true } };
      }
      default:
        return errorResult(405, "method_not_allowed", `Unknown action ${action}`);
    }
  }

  /** The INDEX_ENDPOINT answer (v2 `IndexEndpointResponse`). */
  indexEndpoint(): IndexEndpointResponse {
    return {
      jobs: [...this.#jobs.values()].map((job) => job.toJSON()),
      sources: [],
      webhooks: [],
      dynamicTriggers: [],
      dynamicSchedules: [],
      httpEndpoints: [],
    };
  }

  async #executeJobRequest(request: EndpointRequest): Promise<{ status: number; body: unknown }> {
    let json: unknown;
    try {
      json = JSON.parse(await request.text()) as unknown;
    } catch {
      return errorResult(400, "bad_request", "EXECUTE_JOB body is not valid JSON");
    }
    let body = fastRunJobBody(json);
    if (body === FAST_PARSE_FAILED) {
      const parsed = RunJobBody.safeParse(json);
      if (!parsed.success) {
        return errorResult(400, "validation_failed", "Invalid RunJobBody", parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
      }
      body = parsed.data;
    }
    const job = this.#jobs.get(body.job.id);
    if (!job) return errorResult(404, "not_found", `Job not found: ${body.job.id}`);
    return { status: 200, body: await this.executeJob(body, job, request.signal) };
  }

  /**
   * Runs one execution of `job` for `body` and returns the `RunJobResponse` (never throws for user errors).
   * `signal` is the request's (an `AbortSignal`, or the node adapters' lighter {@link AbortSignalLike}): once aborted
   * (the server hung up), the execution stops at its next task with CANCELED (its `aborted` is read at each task).
   * @internal exposed for adapters and tests
   */
  async executeJob(body: RunJobBody, job: Job<any, any, any>, signal?: AbortSignalLike): Promise<RunJobResponse> {
    const execution = new Execution({
      body,
      api: this.#api,
      logLevel: job.options.logLevel ?? this.#logLevel ?? "info",
      outputLimitBytes: this.#outputLimitBytes,
      log: this.#log,
      // once the server hung up (it canceled the run, or gave up waiting), the execution stops at its next task
      signal,
    });
    // Reports an earlier execution of this run could not deliver (its server died) are this one's now: its completed
    // tasks replay from them instead of running again.
    const earlier = this.#unreported.get(body.run.id);
    if (earlier) {
      await earlier.settled();
      execution.adopt(earlier);
    }
    this.#unreported.set(body.run.id, execution);

    const payload = job.options.trigger.parsePayload(body.event.payload);
    if (!payload.success) return await this.#finish(execution, { status: "INVALID_PAYLOAD", errors: payload.issues });

    const io = new IO(execution, "scope", job.integrationBinders);
    const ctx = buildContext(body);
    try {
      const output = await runScope.run({ execution, frame: undefined }, () => job.options.run(payload.data, io as never, ctx));
      const outputJson = toRunOutputJson(output);
      return await this.#finish(execution, outputJson === undefined ? { status: "SUCCESS" } : { status: "SUCCESS", output: outputJson as Json });
    } catch (error) {
      return await this.#finish(execution, errorToResponse(error));
    }
  }

  /** Ends `execution` with `response`: the answer, carrying the reports not sent yet. */
  async #finish(execution: Execution, response: RunJobResponse): Promise<RunJobResponse> {
    // Reports already flushed alone must land before the server reads this answer (else the run could end, or
    // replay, with a task still RUNNING), and before the reports this answer carries (starts stay in order).
    await execution.settled();
    // a stopped execution's answer goes nowhere (the server hung up): its reports are flushed on their own
    if (execution.stopReason) await execution.flush();
    const reports = execution.close();
    // Kept for adoption while reports are undelivered (a failed flush puts them back); a hung-up execution also for
    // a while after, since its last reports may land after the server built the next execution's body.
    void execution.settled().then(() => {
      if (execution.stopReason) setTimeout(() => this.#dropUnreported(execution), HUNG_UP_RETENTION_MS).unref();
      else this.#dropUnreported(execution);
    });
    // Object.assign, not `{ ...response, ...reports }`: a second spread is a slow path on Node 20's V8 (~2 µs)
    return reports.startedTasks || reports.completedTasks ? Object.assign({}, response, reports) : response;
  }

  /** Forgets `execution` as its run's latest with undelivered reports, unless it has some again or a newer one is. */
  #dropUnreported(execution: Execution): void {
    if (!execution.hasReports && this.#unreported.get(execution.runId) === execution) this.#unreported.delete(execution.runId);
  }

  #debug(message: string, data?: unknown): void {
    if (this.#verbose) console.debug(`[baton:${this.id}] ${message}`, data ?? "");
  }
}

function errorToResponse(error: unknown): RunJobResponse {
  if (error instanceof ResumeWithParallelTaskError) {
    return { status: "RESUME_WITH_PARALLEL_TASK", task: error.task, childErrors: error.childErrors.map((child) => errorToResponse(child) as RunJobErrorResponse) };
  }
  return childErrorToResponse(error);
}

function childErrorToResponse(error: unknown): RunJobErrorResponse {
  if (error instanceof ResumeWithTaskError) return { status: "RESUME_WITH_TASK", task: error.task };
  if (error instanceof RetryWithTaskError) {
    return { status: "RETRY_WITH_TASK", task: error.task, error: toErrorBody(error.error), retryAt: error.retryAt };
  }
  if (error instanceof CanceledWithTaskError) return { status: "CANCELED", task: error.task };
  if (error instanceof YieldExecutionError) return { status: "YIELD_EXECUTION", key: error.key };
  if (error instanceof AutoYieldExecutionError) {
    return {
      status: "AUTO_YIELD_EXECUTION",
      location: error.location,
      timeRemaining: error.timeRemaining,
      timeElapsed: error.timeElapsed,
      ...(error.limit !== undefined ? { limit: error.limit } : {}),
    };
  }
  if (error instanceof AutoYieldWithCompletedTaskExecutionError) {
    return {
      status: "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK",
      id: error.id,
      ...(error.output !== undefined ? { output: error.output } : {}),
      ...(error.properties !== undefined ? { properties: error.properties } : {}),
      data: error.data,
    };
  }
  if (error instanceof ParsedPayloadSchemaError) return { status: "INVALID_PAYLOAD", errors: [...error.schemaErrors] };

  const errorBody = toErrorBody(error);
  const failure = typeof error === "object" && error !== null ? failedTaskInfo.get(error) : undefined;
  const namesItsKey = error instanceof BatonError && (error.code === "TASK_NESTING_TOO_DEEP" || error.code === "TASK_KEY_DUPLICATE" || error.code === "TASK_ERRORED");
  if (failure && !namesItsKey) errorBody.message = `${errorBody.message} (in task ${formatKeyPath(failure.keyPath)})`;
  const task = error instanceof ErrorWithTask ? error.task : failure?.task;
  return task ? { status: "ERROR", error: errorBody, task } : { status: "ERROR", error: errorBody };
}

function buildContext(body: RunJobBody): TriggerContext {
  return {
    job: { id: body.job.id, version: body.job.version },
    environment: { slug: body.environment.slug, id: body.environment.id, type: body.environment.type },
    organization: { slug: body.organization.slug, id: body.organization.id, title: body.organization.title },
    project: body.project ?? { slug: "unknown", id: "unknown", name: "unknown" },
    run: { id: body.run.id, isTest: body.run.isTest, startedAt: body.run.startedAt, isRetry: body.run.isRetry ?? false },
    event: { id: body.event.id, name: body.event.name, context: body.event.context, timestamp: body.event.timestamp },
    ...(body.source ? { source: body.source } : {}),
    ...(body.account ? { account: body.account } : {}),
  };
}

function errorResult(status: number, code: string, message: string, details?: unknown): { status: number; body: unknown } {
  return { status, body: { message, error: { code, message, ...(details !== undefined ? { details } : {}) } } };
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The {@link EndpointRequest} view of a fetch Request (the body is read, and the signal got, only when asked for). */
function fromFetchRequest(request: Request): EndpointRequest {
  return {
    method: request.method,
    header: (name) => request.headers.get(name),
    text: () => request.text(),
    get signal() {
      return request.signal;
    },
  };
}

async function readJson(request: EndpointRequest): Promise<unknown> {
  const text = await request.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
