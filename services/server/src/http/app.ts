import {
  API_VERSIONS,
  compileFastParser,
  CompleteTaskBodyInput,
  FAST_PARSE_FAILED,
  FailTaskBody,
  GetRunQuery,
  HEADERS,
  InvokeJobBody,
  Json,
  ListRunEventsQuery,
  ListRunsQuery,
  RegisterEndpointBody,
  RunTaskBodyInput,
  TaskReportBody,
  SendBulkEventsBody,
  SendEventBody,
  zodIssuesToDetails,
  type ErrorBody,
  type FastParser,
  type EventMetadata,
  type GetRunStatusesResponse,
} from "@baton/core";
import { IncomingMessage } from "node:http";
import { Hono, type Context } from "hono";
import { routePath } from "hono/route";
import type { z } from "zod";
import type { CommandContext } from "../commands/context";
import { registerEndpoint, indexEndpoint } from "../commands/endpoints";
import { cancelEvent, ingestEvents, toApiEventLog } from "../commands/ingest";
import { invokeJob } from "../commands/invoke";
import { loadJob, loadRun, loadTasks } from "../commands/load";
import { cancelRun, continueRun, rerunRun } from "../commands/runs";
import { completeTask, completionOutput, createTask, failTask, reportTasks } from "../commands/tasks";
import { ApiError, conflict, notFound, tooLarge } from "../errors";
import { BoundedMemo } from "../bounded-memo";
import { hashApiKey, type Environment } from "../keys";
import { runStateAt } from "../projections/rebuild";
import type { EventRecordRow } from "../projections/rows";
import { listRunEvents, listRuns, toRunSummary, toRunView } from "../queries/runs";
import { createDashboard } from "../dashboard/index";
import { createMetricsRoutes } from "../telemetry/metrics";

type Env = { Variables: { env: Environment; metadata: EventMetadata } };

/** What the HTTP app needs besides the command context. */
export interface AppDeps {
  readonly ctx: CommandContext;
  /** Environments by sha256 of their private key. */
  readonly environmentsByKeyHash: ReadonlyMap<string, Environment>;
}

function errorBody(error: ApiError): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details !== undefined ? { details: error.details as ErrorBody["error"]["details"] } : {}),
    },
  };
}

/**
 * A request header, read from node's IncomingMessage (`c.env.incoming`) when @hono/node-server serves the request:
 * `c.req.header()` builds a fetch Headers object from all the raw headers on first use (about 1% of the server's CPU
 * per run). Repeated headers come joined with ", " either way (node keeps the first of a repeated `authorization`).
 */
function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage)) return c.req.header(name) ?? undefined;
  const value = incoming.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * The request body as text, at most `maxBytes`. Served by @hono/node-server, it is read straight from node's
 * IncomingMessage (`c.env.incoming`): a fetch Request with its web stream costs several times more CPU per request.
 * @throws ApiError 413 beyond `maxBytes` (the rest of the body is drained, so the answer still reaches the client).
 */
async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  const tooLong = (): ApiError => tooLarge(`request body is larger than the limit of ${maxBytes} bytes (BATON_MAX_BODY_BYTES)`, maxBytes);
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage) || incoming.readableDidRead) {
    const text = await c.req.text();
    if (Buffer.byteLength(text, "utf8") > maxBytes) throw tooLong();
    return text;
  }
  return await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    incoming.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLong());
        return;
      }
      chunks.push(chunk);
    });
    let ended = false;
    incoming.on("end", () => {
      ended = true;
      if (!failed) resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    });
    const fail = (message: string): void => {
      if (!failed && !ended) reject(new ApiError("bad_request", message));
      failed = true;
    };
    incoming.on("error", (error) => fail(`reading the request body failed: ${error.message}`));
    // the client went away before sending the whole body
    incoming.on("close", () => fail("the request body ended early (the connection closed)"));
  });
}

/** A UTF-16 surrogate without its other half (not valid Unicode; `String#isWellFormed` is ES2024). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Deepest nesting of arrays and objects a request body may have (serializing deeper JSON overflows the stack). */
export const MAX_JSON_DEPTH = 512;

/**
 * The first place in a parsed JSON value that Postgres could not store: a string or key with a NUL character (text
 * and jsonb refuse U+0000) or a lone UTF-16 surrogate (jsonb refuses its escape), or nesting deeper than
 * {@link MAX_JSON_DEPTH}. `path` is dotted, as in validation errors (`event.payload.a`, `events.0.name`).
 */
export function findUnstorable(value: unknown, path: string[] = [], depth = 0): { path: string; message: string } | undefined {
  const where = (): string => path.join(".");
  if (typeof value === "string") {
    if (value.includes("\u0000")) return { path: where(), message: "contains a NUL character (\\u0000), which cannot be stored" };
    if (LONE_SURROGATE.test(value)) return { path: where(), message: "contains a lone UTF-16 surrogate (not valid Unicode), which cannot be stored" };
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  if (depth >= MAX_JSON_DEPTH) return { path: where(), message: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(String(i));
      const found = findUnstorable(value[i], path, depth + 1);
      path.pop();
      if (found) return found;
    }
    return undefined;
  }
  for (const key in value) {
    path.push(key);
    const found =
      key.includes("\u0000") || LONE_SURROGATE.test(key)
        ? { path: where(), message: "is a key with a NUL character or a lone UTF-16 surrogate, which cannot be stored" }
        : findUnstorable((value as Record<string, unknown>)[key], path, depth + 1);
    path.pop();
    if (found) return found;
  }
  return undefined;
}

/**
 * The request body parsed as JSON, at most `maxBytes`.
 * @throws ApiError 413 beyond `maxBytes`, 400 empty or not JSON, 422 with the path of a value Postgres cannot store
 *   ({@link findUnstorable}).
 */
async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  return (await readJsonSized(c, maxBytes)).value;
}

/**
 * {@link readJson}, also giving `chars`: the length of the body's text (UTF-16 code units; its UTF-8 size is at most
 * 3 bytes a unit).
 */
async function readJsonSized(c: Context, maxBytes: number): Promise<{ value: unknown; chars: number }> {
  const declared = Number(header(c, "content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw tooLarge(`request body is ${declared} bytes; the limit is ${maxBytes} bytes (BATON_MAX_BODY_BYTES)`, maxBytes);
  }
  const text = await readBodyText(c, maxBytes);
  if (!text.trim()) throw new ApiError("bad_request", "request body is empty; a JSON body is required");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError("bad_request", `request body is not valid JSON: ${(error as Error).message}`);
  }
  const unstorable = findUnstorable(value);
  if (unstorable) {
    throw new ApiError("validation_failed", `invalid body: ${unstorable.path || "(root)"} ${unstorable.message}`, [unstorable]);
  }
  return { value, chars: text.length };
}

/** The event routes' bodies parsed without zod when they can be (see compileFastParser): every run comes in by one. */
const fastSendEventBody = compileFastParser(SendEventBody, [Json]);
const fastSendBulkEventsBody = compileFastParser(SendBulkEventsBody, [Json]);

/**
 * Parses input with a core schema, through its compiled fast parser first when given (zod decides and words
 * everything that one does not take). @throws ApiError 422 with the zod issue paths.
 */
function validate<S extends z.ZodTypeAny>(schema: S, input: unknown, what: string, fast?: FastParser<z.output<S>>): z.output<S> {
  if (fast) {
    const value = fast(input);
    if (value !== FAST_PARSE_FAILED) return value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const details = zodIssuesToDetails(parsed.error.issues);
    throw new ApiError("validation_failed", `invalid ${what}: ${details.map((d) => `${d.path || "(root)"}: ${d.message}`).join("; ")}`, details);
  }
  return parsed.data;
}

/**
 * The request's query string as one value per name, for a strict query schema (which names any unknown parameter).
 * @throws ApiError validation_failed (422) naming a parameter given more than once (which value was meant is unknown).
 */
function query(c: Context): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of new URL(c.req.url).searchParams) {
    if (Object.hasOwn(values, name)) {
      throw new ApiError("validation_failed", `invalid query: ${name}: given more than once`, [{ path: name, message: "given more than once" }]);
    }
    values[name] = value;
  }
  return values;
}

/**
 * The routes that read a query string (each through a strict query schema, which names a parameter it does not know).
 * Every other `/api` route takes none: a parameter sent to one is refused (see {@link refuseQuery}), not dropped.
 */
const QUERY_ROUTES: ReadonlySet<string> = new Set([
  "GET /api/v1/runs",
  "GET /api/v1/jobs/:jobId/runs",
  "GET /api/v2/runs/:runId",
  "GET /api/v1/runs/:runId/events",
]);

/**
 * For a route that reads no query string: names its parameters, if any (a typo'd or misplaced option would otherwise
 * be ignored without a sign). An empty query string (`?` alone) names none and passes.
 * @throws ApiError validation_failed (422) with one detail per parameter.
 */
function refuseQuery(c: Context): void {
  const names = [...new Set(new URL(c.req.url).searchParams.keys())];
  if (!names.length) return;
  const message = "unknown field (this route takes no query parameters)";
  throw new ApiError(
    "validation_failed",
    `invalid query: ${names.map((n) => `${n}: ${message}`).join("; ")}`,
    names.map((path) => ({ path, message })),
  );
}

/**
 * The HTTP API (SPEC §5 and v2's SDK callback routes) as a hono app: bearer auth on every `/api` route, bodies
 * validated by the core schemas, one JSON error envelope. Every success answers 200 (the v2 SDK accepts nothing
 * else).
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const { ctx } = deps;
  const app = new Hono<Env>();

  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(errorBody(error), error.status as 400);
    const pgError = error as { code?: string; constraint?: string };
    if (pgError.code === "23505") {
      // a unique key the client chose (e.g. a reported task id) collides with a row a retry cannot resolve
      return c.json(errorBody(conflict(`duplicate key: ${pgError.constraint ?? "unique constraint"} already has this value`)), 409);
    }
    ctx.log.error({ err: error, path: c.req.path }, "unhandled error");
    return c.json(errorBody(new ApiError("internal", "internal server error")), 500);
  });
  app.notFound((c) => c.json(errorBody(new ApiError("not_found", `no route ${c.req.method} ${c.req.path}`)), 404));

  // a NUL (%00) fits no id, key, cursor or filter, and Postgres cannot take it as text: refused before any route
  app.use("*", async (c, next) => {
    if (/%00/i.test(c.req.url)) throw new ApiError("bad_request", "the URL contains a NUL character (%00), which no id, key or filter can hold");
    await next();
  });

  app.get("/healthz", async (c) => {
    try {
      await ctx.pool.query("select 1");
      return c.json({ ok: true, database: "up", worker: ctx.workerId });
    } catch (error) {
      return c.json({ ok: false, database: "down", error: (error as Error).message }, 503);
    }
  });

  // the sha256 of each recently seen key (a hash per request was ~1% of a one-task run's server CPU). Only the hash is
  // memoized, never the environment it maps to: a rotated key stops working at once.
  const keyHashes = new BoundedMemo(hashApiKey, 256);
  app.use("/api/*", async (c, next) => {
    const authorization = header(c, "authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw new ApiError("unauthorized", "missing or malformed Authorization header; send `Authorization: Bearer <api key>`");
    const env = deps.environmentsByKeyHash.get(keyHashes.get(match[1]!));
    if (!env) throw new ApiError("unauthorized", "invalid API key");
    c.set("env", env);
    // the handler's pattern (`c.req.routePath` here would be this middleware's "/api/*", as it stays when no route
    // matches: that request gets its 404)
    const pattern = routePath(c, -1);
    const route = `${c.req.method} ${pattern}`;
    if (pattern !== "/api/*" && c.req.url.includes("?") && !QUERY_ROUTES.has(`${c.req.method === "HEAD" ? "GET" : c.req.method} ${pattern}`)) {
      refuseQuery(c);
    }
    c.set("metadata", { actor: { type: "api_key", environmentId: env.id, keyHint: env.keyHint }, route });
    const traceparent = header(c, "traceparent");
    if (traceparent) c.get("metadata").traceparent = traceparent;
    await next();
  });

  // ---- events
  /**
   * Refuses an event whose JSON is over maxEventBytes. `bodyChars`, the length of the request body it came in, skips
   * the measuring when the body is small enough that the event cannot be over: re-serialized, the event's JSON is no
   * longer than its part of the body (at most 3 UTF-8 bytes a character), but for a `timestamp` given as epoch ms,
   * which comes back as an ISO string (up to 26 characters longer).
   */
  const checkEventSize = (event: unknown, index?: number, bodyChars = Number.POSITIVE_INFINITY): void => {
    if (bodyChars * 3 + 32 <= ctx.config.maxEventBytes) return;
    const bytes = Buffer.byteLength(JSON.stringify(event), "utf8");
    if (bytes > ctx.config.maxEventBytes) {
      throw tooLarge(
        `event${index === undefined ? "" : ` ${index}`} is ${bytes} bytes; the limit is ${ctx.config.maxEventBytes} bytes per event (BATON_MAX_EVENT_BYTES)`,
        ctx.config.maxEventBytes,
      );
    }
  };
  app.post("/api/v1/events", async (c) => {
    const { value, chars } = await readJsonSized(c, ctx.config.maxBodyBytes);
    const body = validate(SendEventBody, value, "event", fastSendEventBody);
    checkEventSize(body.event, undefined, chars);
    const [result] = await ingestEvents(ctx, c.get("env"), [{ event: body.event, options: body.options }], c.get("metadata"));
    return c.json(result);
  });
  app.post("/api/v1/events/bulk", async (c) => {
    const body = validate(SendBulkEventsBody, await readJson(c, ctx.config.maxBodyBytes), "events", fastSendBulkEventsBody);
    if (body.events.length > ctx.config.maxBulkEvents) {
      const message = `at most ${ctx.config.maxBulkEvents} events per request, got ${body.events.length}; send them in several requests`;
      throw new ApiError("validation_failed", `invalid events: events: ${message}`, [{ path: "events", message }]);
    }
    body.events.forEach((e, i) => checkEventSize(e, i));
    const results = await ingestEvents(ctx, c.get("env"), body.events.map((event) => ({ event, options: body.options })), c.get("metadata"));
    return c.json(results);
  });
  app.post("/api/v1/events/:id/cancel", async (c) => {
    const result = await cancelEvent(ctx, c.get("env"), c.req.param("id"), c.get("metadata"));
    if (!result) throw notFound(`event ${c.req.param("id")}`);
    return c.json(result);
  });
  app.get("/api/v2/events/:id", async (c) => {
    const env = c.get("env");
    const { rows } = await ctx.pool.query<EventRecordRow>("select * from baton.event_records where environment_id = $1 and event_id = $2", [env.id, c.req.param("id")]);
    const record = rows[0];
    if (!record) throw notFound(`event ${c.req.param("id")}`);
    const { rows: runs } = await ctx.pool.query<{ id: string; status: string; started_at: Date | null; completed_at: Date | null }>(
      "select id, status, started_at, completed_at from baton.runs where id = any($1::text[]) order by created_at",
      [record.run_ids],
    );
    return c.json({
      ...toApiEventLog(record),
      createdAt: record.created_at,
      updatedAt: record.updated_at,
      runs: runs.map((r) => ({ id: r.id, status: r.status, startedAt: r.started_at, completedAt: r.completed_at })),
    });
  });

  // ---- endpoints and jobs
  app.post("/api/v1/endpoints", async (c) => {
    const body = validate(RegisterEndpointBody, await readJson(c, ctx.config.maxBodyBytes), "endpoint");
    const result = await registerEndpoint(ctx, c.get("env"), body.id, body.url, c.get("metadata"));
    return c.json({ id: result.endpoint.slug, url: result.endpoint.url, indexedAt: result.endpoint.indexed_at, jobs: result.jobs });
  });
  app.post("/api/v1/endpoints/:id/index", async (c) => {
    const env = c.get("env");
    const { rows } = await ctx.pool.query<{ id: string }>("select id from baton.endpoints where environment_id = $1 and slug = $2", [env.id, c.req.param("id")]);
    if (!rows[0]) throw notFound(`endpoint ${c.req.param("id")}`);
    const result = await indexEndpoint(ctx, env, rows[0].id, c.get("metadata"));
    return c.json({ id: result.endpoint.slug, url: result.endpoint.url, indexedAt: result.endpoint.indexed_at, jobs: result.jobs });
  });
  app.get("/api/v1/jobs", async (c) => {
    const { rows } = await ctx.pool.query(
      `select slug as id, name, current_version as version, latest_version as "latestVersion", trigger, enabled, concurrency_limit as "concurrencyLimit", updated_at as "updatedAt"
       from baton.jobs where environment_id = $1 order by slug`,
      [c.get("env").id],
    );
    return c.json({ jobs: rows });
  });
  app.post("/api/v1/jobs/:jobId/invoke", async (c) => {
    const body = validate(InvokeJobBody, await readJson(c, ctx.config.maxBodyBytes), "invoke body");
    checkEventSize(body);
    return c.json(await invokeJob(ctx, c.get("env"), c.req.param("jobId"), body, header(c, HEADERS.idempotencyKey), c.get("metadata")));
  });

  // ---- runs
  app.get("/api/v1/runs", async (c) => {
    const q = validate(ListRunsQuery, query(c), "query");
    return c.json(await listRuns(ctx.pool, c.get("env").id, q));
  });
  app.get("/api/v1/jobs/:jobId/runs", async (c) => {
    const q = validate(ListRunsQuery, { ...query(c), jobId: c.req.param("jobId") }, "query");
    // an unknown job (also another environment's) is 404, not an empty list
    if (!(await loadJob(ctx.pool, c.get("env").id, c.req.param("jobId")))) throw notFound(`job ${c.req.param("jobId")}`);
    return c.json(await listRuns(ctx.pool, c.get("env").id, q));
  });
  app.get("/api/v2/runs/:runId", async (c) => {
    const q = validate(GetRunQuery, query(c), "query");
    const runId = c.req.param("runId");
    const run = await loadRun(ctx.pool, runId, c.get("env").id);
    if (!run) throw notFound(`run ${runId}`);
    const options = { subtasks: q.subtasks ?? true, details: q.taskdetails ?? true };
    if (q.asOf) {
      const snapshot = await runStateAt(ctx.pool, runId, q.asOf);
      if (!snapshot.run) throw notFound(`run ${runId} as of position ${q.asOf}`);
      return c.json({ ...toRunView(snapshot.run, snapshot.tasks, options), asOf: snapshot.position });
    }
    return c.json(toRunView(run, await loadTasks(ctx.pool, runId), options));
  });
  app.get("/api/v2/runs/:runId/statuses", async (c) => {
    // v2 client.getRunStatuses(); Baton keeps no status records yet (GetRun's `statuses` is [] as well)
    const run = await loadRun(ctx.pool, c.req.param("runId"), c.get("env").id);
    if (!run) throw notFound(`run ${c.req.param("runId")}`);
    const view = toRunView(run, [], { subtasks: false, details: false });
    const body: GetRunStatusesResponse = { run: { id: view.id, status: view.status, output: view.output }, statuses: view.statuses };
    return c.json(body);
  });
  app.get("/api/v1/runs/:runId/events", async (c) => {
    const q = validate(ListRunEventsQuery, query(c), "query");
    const run = await loadRun(ctx.pool, c.req.param("runId"), c.get("env").id);
    if (!run) throw notFound(`run ${c.req.param("runId")}`);
    return c.json(await listRunEvents(ctx.pool, run.id, q.after, q.take));
  });
  app.post("/api/v1/runs/:runId/cancel", async (c) => {
    const run = await cancelRun(ctx, c.get("env"), c.req.param("runId"), c.get("metadata"));
    return c.json(toRunView(run, await loadTasks(ctx.pool, run.id), { subtasks: true, details: false }));
  });
  app.post("/api/v1/runs/:runId/continue", async (c) => {
    const run = await continueRun(ctx, c.get("env"), c.req.param("runId"), c.get("metadata"));
    return c.json({ id: run.id, status: run.status });
  });
  app.post("/api/v1/runs/:runId/rerun", async (c) => {
    const run = await rerunRun(ctx, c.get("env"), c.req.param("runId"), c.get("metadata"));
    return c.json({ ...toRunSummary(run), rerunOf: c.req.param("runId") });
  });

  // ---- SDK callbacks (v2)
  app.post("/api/v1/runs/:runId/tasks", async (c) => {
    const raw = await readJson(c, ctx.config.maxBodyBytes);
    const body = validate(RunTaskBodyInput, { ...(raw as object), idempotencyKey: header(c, HEADERS.idempotencyKey) ?? (raw as { idempotencyKey?: unknown })?.idempotencyKey }, "task");
    const task = await createTask(ctx, c.get("env"), c.req.param("runId"), body.idempotencyKey, body, c.get("metadata"));
    const version = header(c, HEADERS.apiVersion);
    if (version === API_VERSIONS.LAZY_LOADED_CACHED_TASKS) {
      // v2 clients that send Trigger-Version get it back and expect {task, cachedTasks?}
      c.header(HEADERS.apiVersion, version);
      return c.json({ task });
    }
    return c.json(task);
  });
  app.post("/api/v1/runs/:runId/tasks/report", async (c) => {
    const body = validate(TaskReportBody, await readJson(c, ctx.config.maxBodyBytes), "task report");
    return c.json(await reportTasks(ctx, c.get("env"), c.req.param("runId"), body, c.get("metadata")));
  });
  app.post("/api/v1/runs/:runId/tasks/:taskId/complete", async (c) => {
    const raw = await readJson(c, ctx.config.maxBodyBytes);
    const version = header(c, HEADERS.apiVersion);
    const body = validate(CompleteTaskBodyInput, typeof (raw as { output?: unknown })?.output === "string" || (raw as { output?: unknown })?.output === undefined ? raw : { ...(raw as object), output: undefined }, "completion");
    const output = completionOutput({ ...body, output: (raw as { output?: unknown }).output } as never, version);
    return c.json(await completeTask(ctx, c.get("env"), c.req.param("runId"), c.req.param("taskId"), output, body, c.get("metadata")));
  });
  app.post("/api/v1/runs/:runId/tasks/:taskId/fail", async (c) => {
    const body = validate(FailTaskBody, await readJson(c, ctx.config.maxBodyBytes), "failure");
    return c.json(await failTask(ctx, c.get("env"), c.req.param("runId"), c.req.param("taskId"), body, c.get("metadata")));
  });

  // ---- unauthenticated Prometheus metrics, and the dashboard (its own session login; only its own paths)
  app.route("/", createMetricsRoutes(ctx));
  app.route("/", createDashboard(deps));

  return app;
}
