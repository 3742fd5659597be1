import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../../src/testing";
import { DeterministicIdGenerator } from "../../src/telemetry/ids";
import { buildRunTrace } from "../../src/telemetry/run-trace";
import { emitRunTrace, loadRunStream } from "../../src/telemetry/trace-exporter";
import { startE2E, type E2E } from "../e2e/helpers";
import { defineSeedLikeJob, type Outbox } from "./seed-like";

/** A span as OTLP/HTTP JSON carries it (ids are hex strings in the JSON encoding). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string; attributes?: Array<{ key: string; value: Record<string, unknown> }> }>;
  status?: { code?: number };
}

/** A real OTLP/HTTP trace receiver on loopback: accepts `POST /v1/traces` with the JSON encoding. */
class Receiver {
  readonly spans: OtlpSpan[] = [];
  readonly server: Server;
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/traces" || !String(req.headers["content-type"]).includes("json")) {
          res.writeHead(415).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) this.spans.push(...ss.spans);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

const attr = (span: OtlpSpan | undefined, key: string): unknown => {
  const v = span?.attributes?.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

const receiver = new Receiver();
const outbox: Outbox = { sent: [] };
let provider: BasicTracerProvider;
let e2e: E2E;

// the ingesting request's trace context: the run's trace must continue it
const INGEST_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const INGEST_SPAN_ID = "00f067aa0ba902b7";

beforeAll(async () => {
  const url = await receiver.listen();
  // wired as main.ts does it, with a simple processor so every ended span is sent at once
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "baton-test" }),
    idGenerator: new DeterministicIdGenerator(),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }))],
  });
  const server = await startTestServer({ tracerProvider: provider, traceExportIntervalMs: 100 });
  e2e = await startE2E((client) => defineSeedLikeJob(client, outbox), { server });
});
afterAll(async () => {
  await e2e?.close();
  await e2e?.server.close();
  await provider?.shutdown();
  receiver.server.close();
});

describe("OpenTelemetry traces built from the event store", () => {
  it("exports a seed-job run as one trace under the ingesting request's span: run → tasks, wait, logs, attempts", async () => {
    const response = await fetch(`${e2e.server.url}/api/v1/events`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${e2e.server.apiKeys.dev}`,
        "content-type": "application/json",
        traceparent: `00-${INGEST_TRACE_ID}-${INGEST_SPAN_ID}-01`,
      },
      body: JSON.stringify({ event: { name: "new.user", id: "otel-1", payload: { userId: "ada", waitSeconds: 1 } } }),
    });
    expect(response.status).toBe(200);
    const [runId] = await e2e.waitForRuns("otel-1");
    const run = await e2e.waitForRun(runId!);
    expect(run.status).toBe("SUCCESS");

    const deadline = Date.now() + 20_000;
    let runSpan: OtlpSpan | undefined;
    while (Date.now() < deadline && !runSpan) {
      await provider.forceFlush();
      runSpan = receiver.spans.find((s) => attr(s, "baton.run.id") === runId && s.name.startsWith("run "));
      if (!runSpan) await new Promise((r) => setTimeout(r, 100));
    }
    expect(runSpan, "the run span reached the OTLP receiver").toBeDefined();
    const spans = receiver.spans.filter((s) => s.traceId === runSpan!.traceId);

    // one trace, continuing the ingesting request's trace
    expect(runSpan!.traceId).toBe(INGEST_TRACE_ID);
    expect(runSpan!.parentSpanId).toBe(INGEST_SPAN_ID);
    expect(attr(runSpan, "baton.job.id")).toBe("new-user");
    expect(attr(runSpan, "baton.job.version")).toBe("0.0.1");
    expect(attr(runSpan, "baton.run.status")).toBe("SUCCESS");
    // the run waited, so it took two executions: both are child spans of the run
    const executions = spans.filter((s) => s.name === "execution");
    expect(executions.length).toBeGreaterThanOrEqual(2);
    for (const x of executions) expect(x.parentSpanId).toBe(runSpan!.spanId);

    const byName = (name: string) => spans.find((s) => attr(s, "baton.task.name") === name);
    const email = byName("Send email");
    const wait = byName("wait");
    const last = byName("My Task");
    for (const task of [email, wait, last]) {
      expect(task, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
      expect(task!.parentSpanId).toBe(runSpan!.spanId);
      expect(attr(task, "baton.run.id")).toBe(runId);
      expect(typeof attr(task, "baton.task.idempotency_key")).toBe("string");
    }
    expect(attr(email, "baton.task.key")).toBe("welcome-email");
    expect(email!.events?.some((e) => e.name === "attempt")).toBe(true);
    // the wait is visible: a span from its creation until it came due, with the time it continued
    expect(attr(wait, "baton.task.wait")).toBe(true);
    expect(typeof attr(wait, "baton.task.delay_until")).toBe("string");
    // it ends when the wait came due, never before (its start is the server's creation, a little after the SDK
    // computed the due time, so its length is a bit under the 1 s asked for: more so on a loaded machine)
    const endMs = Number(BigInt(wait!.endTimeUnixNano) / 1_000_000n);
    expect(endMs).toBeGreaterThanOrEqual(Date.parse(String(attr(wait, "baton.task.delay_until"))));
    const waitMs = Number(BigInt(wait!.endTimeUnixNano) - BigInt(wait!.startTimeUnixNano)) / 1e6;
    expect(waitMs).toBeGreaterThan(500);
    // the log line is a span event of the run with its level
    const log = runSpan!.events?.find((e) => e.name === "log");
    expect(log?.attributes?.find((a) => a.key === "baton.log.level")?.value).toEqual({ stringValue: "INFO" });
    expect(log?.attributes?.find((a) => a.key === "baton.log.message")?.value).toEqual({ stringValue: "welcome email sent" });
    expect(runSpan!.events?.some((e) => e.name === "run.waiting")).toBe(true);
  });

  it("gives the same span ids when a run is exported again (ids derive from run and task ids)", async () => {
    const [runId] = await e2e.runsOf("otel-1");
    const first = receiver.spans.filter((s) => attr(s, "baton.run.id") === runId);
    const before = receiver.spans.length;
    emitRunTrace(provider, buildRunTrace(await loadRunStream(e2e.server.pool, runId!))!);
    await provider.forceFlush();
    const again = receiver.spans.slice(before);
    expect(again.map((s) => s.spanId).sort()).toEqual(first.map((s) => s.spanId).sort());
  });

  it("nests subtasks under their parent task and shows retries as attempts of one span", async () => {
    const events = [
      { type: "run.created", data: { runId: "run_x", environmentId: "env_dev", jobSlug: "j", jobVersion: "1.0.0", endpointId: "e", eventRecordId: "evt_x", isTest: false, concurrencyKey: null, concurrencyLimit: null, traceparent: null } },
      { type: "run.started", data: { workerId: "w", executionId: "x1", isRetry: false } },
      { type: "task.created", data: { taskId: "task_p", idempotencyKey: "kp", parentId: null, depth: 0, name: "parent", displayKey: "p", icon: null, description: null, noop: false, operation: null, parallel: false, status: "RUNNING", delayUntil: null } },
      { type: "task.created", data: { taskId: "task_c", idempotencyKey: "kc", parentId: "task_p", depth: 1, name: "child", displayKey: "c", icon: null, description: null, noop: false, operation: null, parallel: false, status: "RUNNING", delayUntil: null } },
      { type: "task.retry_scheduled", data: { taskId: "task_c", error: { message: "flaky" }, retryAt: "2026-01-01T00:00:02.000Z" } },
      { type: "task.resumed", data: { taskId: "task_c", status: "RUNNING" } },
      { type: "task.completed", data: { taskId: "task_c", output: "1" } },
      { type: "task.completed", data: { taskId: "task_p", output: "2" } },
      { type: "run.succeeded", data: { output: "2", executionDurationMs: 5 } },
    ].map((e, i) => ({ ...e, position: String(i + 1), metadata: {}, occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) })) as Parameters<typeof buildRunTrace>[0];
    const trace = buildRunTrace(events)!;
    const span = (key: string) => trace.spans.find((s) => s.key === key)!;
    expect(span("task:task_c").parentKey).toBe("task:task_p");
    expect(span("task:task_p").parentKey).toBe("run:run_x");
    const attempts = span("task:task_c").events.filter((e) => e.name === "attempt");
    expect(attempts.map((a) => [a.attributes["baton.attempt"], a.attributes["baton.attempt.outcome"]])).toEqual([
      [1, "ERRORED"],
      [2, "COMPLETED"],
    ]);
    expect(span("task:task_c").attributes["baton.task.attempts"]).toBe(2);
    expect(span("task:task_c").events.some((e) => e.name === "retry_scheduled")).toBe(true);
    expect(trace.parent).toBeNull();
    expect(buildRunTrace(events)!.spans.map((s) => s.spanId)).toEqual(trace.spans.map((s) => s.spanId));
  });
});
