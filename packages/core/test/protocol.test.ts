import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  API_VERSIONS,
  TASK_ID_PATTERN,
  TaskReportBody,
  newPrefixedId,
  CachedTask,
  CompleteTaskBodyInput,
  ExecuteJobRunMetadata,
  FailTaskBody,
  HEADERS,
  IndexEndpointResponse,
  JobMetadata,
  PingResponse,
  RunJobBody,
  RunJobResponse,
  RunJobResponseStatus,
  RunNotification,
  RunTaskBodyInput,
  RunTaskBodyOutput,
  RunTaskResponseWithCachedTasksBody,
  ServerTask,
  TriggerAction,
  ValidateResponse,
  isTerminalRunStatus,
} from "../src/index";

function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as T;
}

/** Parses, serializes as JSON (what goes on the wire) and parses again: both parses must agree. */
function roundTrip<T>(schema: { parse(input: unknown): T }, input: unknown): T {
  const first = schema.parse(input);
  const second = schema.parse(JSON.parse(JSON.stringify(first)));
  expect(second).toEqual(first);
  return first;
}

interface CapturedResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}
const captured = fixture<{ responses: Record<string, CapturedResponse> }>("v2-run-job-responses.json").responses;
const sdkRequests = fixture<{ requests: { method: string; path: string; headers: Record<string, string>; body: unknown }[] }>(
  "v2-sdk-requests.json",
).requests;

const serverTask = {
  id: "task_01",
  name: "Step 1",
  icon: null,
  noop: false,
  startedAt: "2024-01-01T00:00:00.000Z",
  completedAt: null,
  delayUntil: null,
  status: "RUNNING",
  description: null,
  properties: null,
  outputProperties: null,
  params: { x: 1 },
  output: null,
  context: null,
  error: null,
  parentId: null,
  style: null,
  operation: null,
  callbackUrl: null,
  childExecutionMode: "SEQUENTIAL",
  idempotencyKey: "478db3ca67e1b80266337bb1cd494ed378ff561a6f78ad96af5bd23a270f431e",
  attempts: 1,
  forceYield: false,
};

const runJobBody = {
  event: {
    id: "evt_1",
    name: "new.user",
    payload: { userId: "u1" },
    context: {},
    timestamp: "2024-01-01T00:00:00.000Z",
    deliverAt: null,
    deliveredAt: "2024-01-01T00:00:01.000Z",
    cancelledAt: null,
  },
  job: { id: "new-user", version: "0.0.1" },
  run: { id: "run_1", isTest: false, isRetry: false, startedAt: "2024-01-01T00:00:02.000Z" },
  environment: { id: "env_1", slug: "dev", type: "DEVELOPMENT" },
  organization: { id: "org_1", title: "Org", slug: "org" },
  project: { id: "proj_1", name: "Proj", slug: "proj" },
  tasks: [{ id: "k1", idempotencyKey: "k1", status: "COMPLETED", noop: false, output: { sent: true }, parentId: null }],
  cachedTaskCursor: "task_02",
  yieldedExecutions: [],
  runChunkExecutionLimit: 59_650,
  autoYieldConfig: {
    startTaskThreshold: 750,
    beforeExecuteTaskThreshold: 1500,
    beforeCompleteTaskThreshold: 750,
    afterCompleteTaskThreshold: 750,
  },
};

describe("RunJobResponse: every status as the v2 SDK 2.3.19 emits it", () => {
  const byStatus: Record<RunJobResponseStatus, unknown> = {
    SUCCESS: captured.SUCCESS?.body,
    ERROR: captured.ERROR?.body,
    RESUME_WITH_TASK: captured.RESUME_WITH_TASK?.body,
    RETRY_WITH_TASK: captured.RETRY_WITH_TASK?.body,
    RESUME_WITH_PARALLEL_TASK: captured.RESUME_WITH_PARALLEL_TASK?.body,
    CANCELED: captured.CANCELED?.body,
    YIELD_EXECUTION: captured.YIELD_EXECUTION?.body,
    AUTO_YIELD_EXECUTION: captured.AUTO_YIELD_EXECUTION?.body,
    // The next three are written by hand from the 2.3.19 SDK code (they need a slow endpoint, a 429 or
    // an integration to capture).
    AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK: {
      status: "AUTO_YIELD_EXECUTION_WITH_COMPLETED_TASK",
      id: "task_01",
      properties: [],
      output: '{"n":1}',
      data: { location: "before_complete_task", timeRemaining: 420.5, timeElapsed: 59_229.5, limit: 59_650 },
    },
    AUTO_YIELD_RATE_LIMIT: { status: "AUTO_YIELD_RATE_LIMIT", reset: 1_704_067_200_000 },
    INVALID_PAYLOAD: captured.INVALID_PAYLOAD?.body,
    UNRESOLVED_AUTH_ERROR: {
      status: "UNRESOLVED_AUTH_ERROR",
      issues: { github: { id: "github", error: "Something went wrong: Integration github is missing auth credentials" } },
    },
  };

  for (const status of RunJobResponseStatus.options) {
    it(`parses and round-trips ${status}`, () => {
      const body = byStatus[status];
      expect(body, `fixture for ${status}`).toBeDefined();
      const parsed = roundTrip(RunJobResponse, body);
      expect(parsed.status).toBe(status);
    });
  }

  it("keeps the fields the server acts on", () => {
    const retry = RunJobResponse.parse(captured.RETRY_WITH_TASK?.body);
    if (retry.status !== "RETRY_WITH_TASK") throw new Error("wrong status");
    expect(retry.retryAt).toBeInstanceOf(Date);
    expect(retry.error.message).toBe("flaky failed");
    expect(retry.task.id).toMatch(/^task_/);

    const parallel = RunJobResponse.parse(captured.RESUME_WITH_PARALLEL_TASK?.body);
    if (parallel.status !== "RESUME_WITH_PARALLEL_TASK") throw new Error("wrong status");
    expect(parallel.childErrors.map((child) => child.status)).toEqual(["RESUME_WITH_TASK", "RESUME_WITH_TASK"]);

    const invalid = RunJobResponse.parse(captured.INVALID_PAYLOAD?.body);
    if (invalid.status !== "INVALID_PAYLOAD") throw new Error("wrong status");
    expect(invalid.errors).toEqual([
      { path: ["userId"], message: "Expected string, received number" },
      { path: ["tags", "0"], message: "Expected string, received number" },
    ]);

    const rateLimit = RunJobResponse.parse({ status: "AUTO_YIELD_RATE_LIMIT", reset: "1704067200000" });
    if (rateLimit.status !== "AUTO_YIELD_RATE_LIMIT") throw new Error("wrong status");
    expect(rateLimit.reset).toBe(1_704_067_200_000);
  });

  it("accepts an ERROR from a non-Error throw and a SUCCESS without output", () => {
    expect(RunJobResponse.parse(captured.ERROR_unknown?.body)).toEqual({
      status: "ERROR",
      error: { name: "Unknown error", message: "plain string" },
    });
    expect(RunJobResponse.parse({ status: "SUCCESS" })).toEqual({ status: "SUCCESS" });
  });

  it("accepts Baton's completedTasks on any status", () => {
    const completedTasks = [{ id: "task_01", output: '{"json":1}', outputMeta: { values: { at: ["Date"] } } }];
    for (const body of [
      { status: "SUCCESS", output: 1, completedTasks },
      { status: "YIELD_EXECUTION", key: "y", completedTasks },
      { ...(captured.RESUME_WITH_TASK?.body as object), completedTasks },
    ]) {
      expect(roundTrip(RunJobResponse, body).completedTasks).toEqual(completedTasks);
    }
  });

  it("rejects an unknown status and a variant missing a required field", () => {
    expect(RunJobResponse.safeParse({ status: "DONE" }).success).toBe(false);
    expect(RunJobResponse.safeParse({ status: "RETRY_WITH_TASK", task: serverTask, error: { message: "x" } }).success).toBe(false);
    expect(RunJobResponse.safeParse({ status: "ERROR" }).success).toBe(false);
  });
});

describe("IndexEndpointResponse", () => {
  const captured = fixture("v2-index-endpoint-response.json");

  it("parses what the v2 SDK 2.3.19 answers to INDEX_ENDPOINT and round-trips it", () => {
    const parsed = roundTrip(IndexEndpointResponse, captured);
    expect(parsed.jobs.map((job) => job.id)).toEqual([
      "new-user",
      "cron-job",
      "interval-job",
      "invoke-job",
      "dyn-sched-job",
      "http-job",
    ]);
    expect(parsed.dynamicSchedules).toEqual([{ id: "dyn-sched", jobs: [{ id: "dyn-sched-job", version: "0.1.0" }] }]);
    expect(parsed.httpEndpoints?.[0]).toMatchObject({ id: "caldotcom", source: "cal.com", enabled: true });
  });

  it("reads triggers, filters and concurrency limits of each kind", () => {
    const jobs = IndexEndpointResponse.parse(captured).jobs;
    const byId = new Map(jobs.map((job) => [job.id, job]));
    const newUser = byId.get("new-user");
    expect(newUser?.trigger).toEqual({
      type: "static",
      title: "new.user",
      rule: {
        event: "new.user",
        source: "trigger.dev",
        payload: {
          plan: ["pro", "team"],
          age: [{ $gte: 18 }],
          address: { country: [{ $ignoreCaseEquals: "fr" }] },
        },
      },
    });
    expect(newUser?.concurrencyLimit).toEqual({ id: "emails", limit: 3 });
    expect(newUser?.internal).toBe(false);
    expect(byId.get("cron-job")?.trigger).toEqual({ type: "scheduled", schedule: { type: "cron", options: { cron: "0 9 * * 1" } } });
    expect(byId.get("cron-job")?.concurrencyLimit).toBe(2);
    expect(byId.get("interval-job")?.trigger).toEqual({ type: "scheduled", schedule: { type: "interval", options: { seconds: 60 } } });
    expect(byId.get("interval-job")?.enabled).toBe(false);
    expect(byId.get("invoke-job")?.trigger).toEqual({ type: "invoke" });
    expect(byId.get("dyn-sched-job")?.trigger).toEqual({ type: "dynamic", id: "dyn-sched" });
  });

  it("enforces the interval bounds of 20 s to 30 days", () => {
    const job = (seconds: number) => ({
      id: "j",
      name: "j",
      version: "1.0.0",
      event: { name: "trigger.scheduled", title: "Schedule", source: "trigger.dev", icon: "schedule-interval" },
      trigger: { type: "scheduled", schedule: { type: "interval", options: { seconds } } },
      integrations: {},
      enabled: true,
      startPosition: "latest",
      preprocessRuns: false,
    });
    expect(JobMetadata.safeParse(job(20)).success).toBe(true);
    expect(JobMetadata.safeParse(job(2_592_000)).success).toBe(true);
    expect(JobMetadata.safeParse(job(19)).success).toBe(false);
    expect(JobMetadata.safeParse(job(2_592_001)).success).toBe(false);
    expect(JobMetadata.safeParse(job(60.5)).success).toBe(false);
  });

  it("rejects a zero or fractional numeric concurrencyLimit", () => {
    const base = IndexEndpointResponse.parse(captured).jobs[1];
    expect(JobMetadata.safeParse({ ...base, concurrencyLimit: 0 }).success).toBe(false);
    expect(JobMetadata.safeParse({ ...base, concurrencyLimit: 1.5 }).success).toBe(false);
  });
});

describe("RunJobBody", () => {
  it("parses a v2 body with ISO dates and round-trips it", () => {
    const parsed = roundTrip(RunJobBody, runJobBody);
    expect(parsed.event.timestamp).toBeInstanceOf(Date);
    expect(parsed.run.startedAt.toISOString()).toBe("2024-01-01T00:00:02.000Z");
    expect(parsed.tasks?.[0]?.output).toEqual({ sent: true });
  });

  it("accepts Date objects as well as strings", () => {
    const parsed = RunJobBody.parse({ ...runJobBody, run: { ...runJobBody.run, startedAt: new Date(0) } });
    expect(parsed.run.startedAt.getTime()).toBe(0);
  });

  it("defaults run.isRetry to false and cached task noop to false; project is optional", () => {
    const { project: _project, ...withoutProject } = runJobBody;
    const parsed = RunJobBody.parse({
      ...withoutProject,
      run: { id: "run_1", isTest: true, startedAt: "2024-01-01T00:00:00Z" },
      tasks: [{ id: "k", idempotencyKey: "k", status: "COMPLETED" }],
    });
    expect(parsed.run.isRetry).toBe(false);
    expect(parsed.tasks?.[0]?.noop).toBe(false);
    expect(parsed.project).toBeUndefined();
  });

  it("carries Baton's extension: batonProtocol 1, noopTaskKeys and outputMeta", () => {
    const parsed = RunJobBody.parse({
      ...runJobBody,
      batonProtocol: 1,
      noopTaskKeys: ["a", "b"],
      tasks: [{ id: "k", idempotencyKey: "k", status: "COMPLETED", output: { at: "2024-01-01T00:00:00.000Z" }, outputMeta: { values: { at: ["Date"] } } }],
    });
    expect(parsed.batonProtocol).toBe(1);
    expect(parsed.noopTaskKeys).toEqual(["a", "b"]);
    expect(parsed.tasks?.[0]?.outputMeta).toEqual({ values: { at: ["Date"] } });
    expect(RunJobBody.safeParse({ ...runJobBody, batonProtocol: 2, uncachedTaskKeys: ["c"] }).data?.uncachedTaskKeys).toEqual(["c"]);
    expect(RunJobBody.safeParse({ ...runJobBody, batonProtocol: 3 }).success).toBe(false);
    expect(RunJobBody.safeParse({ ...runJobBody, batonProtocol: 0 }).success).toBe(false);
  });

  it("validates Baton protocol 2 task reports: ids shaped like the server's, keys present", () => {
    const started = { id: "task_01jd0000000000000000000000", idempotencyKey: "k1", startedAt: "2026-11-29T10:00:00.000Z" };
    const ok = TaskReportBody.parse({ startedTasks: [started], completedTasks: [{ id: started.id, output: "1", completedAt: "2026-11-29T10:00:00.005Z" }] });
    expect(ok.startedTasks?.[0]?.startedAt).toEqual(new Date("2026-11-29T10:00:00.000Z"));
    expect(ok.startedTasks?.[0]?.noop).toBe(false);
    expect(ok.completedTasks?.[0]?.completedAt).toEqual(new Date("2026-11-29T10:00:00.005Z"));
    const bad = TaskReportBody.safeParse({ startedTasks: [{ ...started, id: "run_01jd0000000000000000000000" }] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["startedTasks", 0, "id"]);
    expect(TaskReportBody.safeParse({ startedTasks: [{ ...started, idempotencyKey: "" }] }).success).toBe(false);
    expect(TaskReportBody.safeParse({ startedTasks: [{ ...started, startedAt: "yesterday" }] }).success).toBe(false);
    expect(TASK_ID_PATTERN.test(newPrefixedId("task"))).toBe(true);
  });

  it("rejects a body without the required run fields", () => {
    expect(RunJobBody.safeParse({ ...runJobBody, run: { id: "r" } }).success).toBe(false);
  });
});

describe("task API bodies the v2 SDK 2.3.19 sends", () => {
  const creates = sdkRequests.filter((request) => request.path.endsWith("/tasks"));
  const completes = sdkRequests.filter((request) => request.path.endsWith("/complete"));
  const fails = sdkRequests.filter((request) => request.path.endsWith("/fail"));

  it("every task creation parses as RunTaskBodyInput with an idempotency key equal to the header", () => {
    expect(creates.length).toBeGreaterThan(5);
    for (const request of creates) {
      const body = RunTaskBodyInput.parse(request.body);
      expect(body.idempotencyKey).toBe(request.headers[HEADERS.idempotencyKey.toLowerCase()]);
      expect(request.headers[HEADERS.apiVersion.toLowerCase()]).toBe(API_VERSIONS.LAZY_LOADED_CACHED_TASKS);
      expect(RunTaskBodyOutput.safeParse(request.body).success).toBe(true);
    }
  });

  it("reads wait, log, retry, parallel and subtask options", () => {
    const bodies = creates.map((request) => RunTaskBodyInput.parse(request.body));
    const wait = bodies.find((body) => body.name === "wait");
    expect(wait?.noop).toBe(true);
    expect(wait?.delayUntil).toBeInstanceOf(Date);
    expect(wait?.style).toEqual({ style: "minimal" });
    const log = bodies.find((body) => body.name === "log");
    expect(log?.properties).toEqual([{ label: "Level", text: "INFO" }]);
    expect(log?.displayKey).toBeUndefined();
    expect(bodies.find((body) => body.displayKey === "flaky")?.retry).toEqual({ limit: 3, minTimeoutInMs: 1000, factor: 2, randomize: false });
    expect(bodies.find((body) => body.name === "parallel")?.parallel).toBe(true);
    expect(bodies.some((body) => typeof body.parentId === "string")).toBe(true);
  });

  it("task completion sends output as JSON text, or no output for undefined", () => {
    const bodies = completes.map((request) => CompleteTaskBodyInput.parse(request.body));
    expect(bodies[0]?.output).toBe('{"at":"2024-01-02T03:04:05.000Z","n":1}');
    expect(bodies.some((body) => body.output === undefined)).toBe(true);
    for (const request of completes) {
      expect(request.headers[HEADERS.apiVersion.toLowerCase()]).toBe(API_VERSIONS.SERIALIZED_TASK_OUTPUT);
    }
  });

  it("task failure sends {error: {message, name, stack}}", () => {
    expect(fails.length).toBe(1);
    expect(FailTaskBody.parse(fails[0]?.body).error).toMatchObject({ message: "bad task", name: "Error" });
  });

  it("applies the server-side defaults of a task-creation body", () => {
    const parsed = RunTaskBodyOutput.parse({ idempotencyKey: "k", callback: { enabled: true } });
    expect(parsed.noop).toBe(false);
    expect(parsed.callback).toEqual({ enabled: true, timeoutInSeconds: 3600 });
  });

  it("accepts Baton's deferred completions on task creation and outputMeta on completion", () => {
    const parsed = RunTaskBodyInput.parse({ idempotencyKey: "k", completedTasks: [{ id: "task_1" }, { id: "task_2", output: "1" }] });
    expect(parsed.completedTasks).toEqual([{ id: "task_1" }, { id: "task_2", output: "1" }]);
    expect(CompleteTaskBodyInput.parse({ output: "{}", outputMeta: { v: 1 } }).outputMeta).toEqual({ v: 1 });
  });
});

describe("task API answers", () => {
  it("a ServerTask round-trips and keeps attempts and forceYield", () => {
    const parsed = roundTrip(ServerTask, serverTask);
    expect(parsed.attempts).toBe(1);
    expect(parsed.forceYield).toBe(false);
    expect(parsed.startedAt).toBeInstanceOf(Date);
  });

  it("the 2023-09-29 answer carries lazily loaded cached tasks and a cursor", () => {
    const parsed = roundTrip(RunTaskResponseWithCachedTasksBody, {
      task: serverTask,
      cachedTasks: { tasks: [{ id: "k2", idempotencyKey: "k2", status: "COMPLETED", noop: false, output: [1, 2] }], cursor: "task_09" },
    });
    expect(parsed.cachedTasks?.cursor).toBe("task_09");
    expect(RunTaskResponseWithCachedTasksBody.parse({ task: serverTask }).cachedTasks).toBeUndefined();
  });

  it("a CachedTask output must be JSON", () => {
    expect(CachedTask.safeParse({ id: "k", idempotencyKey: "k", status: "COMPLETED", output: new Date() }).success).toBe(false);
  });
});

describe("small protocol messages", () => {
  it("PING and VALIDATE answers as the v2 SDK gives them", () => {
    expect(PingResponse.parse(captured.PING?.body)).toEqual({ ok: true });
    expect(PingResponse.parse({ ok: false, error: "Endpoint ID mismatch error. Expected a, got b" }).ok).toBe(false);
    expect(ValidateResponse.parse(captured.VALIDATE?.body)).toEqual({ ok: true, endpointId: "baton-fixture" });
  });

  it("x-trigger-run-metadata header JSON parses", () => {
    expect(ExecuteJobRunMetadata.parse(JSON.parse(captured.SUCCESS?.headers?.["x-trigger-run-metadata"] ?? "null"))).toEqual({});
    expect(ExecuteJobRunMetadata.parse({ successSubscription: true })).toEqual({ successSubscription: true });
  });

  it("every action the v2 SDK handles is a TriggerAction", () => {
    expect(TriggerAction.options).toContain("EXECUTE_JOB");
    expect(TriggerAction.options).toContain("RUN_NOTIFICATION");
    expect(TriggerAction.safeParse("NOPE").success).toBe(false);
  });

  it("a failed RunNotification round-trips", () => {
    const notification = {
      ok: false,
      status: "FAILURE",
      error: { message: "boom" },
      id: "run_1",
      statuses: [],
      startedAt: "2024-01-01T00:00:00.000Z",
      updatedAt: "2024-01-01T00:00:05.000Z",
      completedAt: "2024-01-01T00:00:05.000Z",
      isTest: false,
      executionDurationInMs: 120,
      executionCount: 2,
      job: { id: "new-user", version: "0.0.1" },
      environment: { id: "env_1", slug: "dev", type: "DEVELOPMENT" },
      organization: { id: "org_1", slug: "org", title: "Org" },
      project: { id: "proj_1", slug: "proj", name: "Proj" },
      invocation: { id: "evt_1", context: {}, timestamp: "2024-01-01T00:00:00.000Z", payload: { userId: "u1" } },
    };
    const parsed = roundTrip(RunNotification, notification);
    expect(parsed.ok).toBe(false);
    expect(parsed.completedAt).toBeInstanceOf(Date);
  });

  it("terminal run statuses", () => {
    expect(isTerminalRunStatus("SUCCESS")).toBe(true);
    expect(isTerminalRunStatus("INVALID_PAYLOAD")).toBe(true);
    expect(isTerminalRunStatus("WAITING_TO_CONTINUE")).toBe(false);
  });
});
