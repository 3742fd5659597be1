import { describe, expect, it } from "vitest";
import {
  ErrorBody,
  GetEventResponse,
  GetRunQuery,
  GetRunResponse,
  InvokeJobBody,
  ListRunsQuery,
  RegisterEndpointBody,
  SendBulkEventsBody,
  SendEventBody,
  zodIssuesToDetails,
} from "../src/index";

describe("SendEventBody", () => {
  it("parses the body the v2 SDK sends, coercing dates", () => {
    const parsed = SendEventBody.parse({
      event: { name: "new.user", payload: { userId: "u1" }, id: "evt-1", timestamp: "2024-01-01T00:00:00.000Z" },
      options: { deliverAt: "2024-01-02T00:00:00.000Z" },
    });
    expect(parsed.event.timestamp).toBeInstanceOf(Date);
    expect(parsed.options?.deliverAt?.toISOString()).toBe("2024-01-02T00:00:00.000Z");
  });

  it("payload, context, id, timestamp, source and options are optional", () => {
    expect(SendEventBody.parse({ event: { name: "ping" } })).toEqual({ event: { name: "ping" } });
  });

  it("deliverAfter is a whole number of seconds >= 0", () => {
    expect(SendEventBody.safeParse({ event: { name: "e" }, options: { deliverAfter: 0 } }).success).toBe(true);
    expect(SendEventBody.safeParse({ event: { name: "e" }, options: { deliverAfter: 1.5 } }).success).toBe(false);
    expect(SendEventBody.safeParse({ event: { name: "e" }, options: { deliverAfter: -1 } }).success).toBe(false);
  });

  it("rejects an event without a name and reports the path", () => {
    const result = SendEventBody.safeParse({ event: { payload: {} } });
    expect(result.success).toBe(false);
    if (!result.success) expect(zodIssuesToDetails(result.error.issues).map((detail) => detail.path)).toEqual(["event.name"]);
  });

  it("bulk takes a list of events with shared options", () => {
    const parsed = SendBulkEventsBody.parse({ events: [{ name: "a" }, { name: "b", payload: 1 }], options: { deliverAfter: 5 } });
    expect(parsed.events).toHaveLength(2);
  });
});

describe("other request bodies and queries", () => {
  it("InvokeJobBody accepts what the v2 SDK sends (options with undefined members)", () => {
    expect(InvokeJobBody.parse({ payload: { n: 1 }, context: {}, options: {} })).toEqual({ payload: { n: 1 }, context: {}, options: {} });
    expect(InvokeJobBody.safeParse({ options: { callbackUrl: "ftp://x" } }).success).toBe(false);
  });

  it("RegisterEndpointBody gives {id, url}, takes v2's name as the id and needs an http(s) URL", () => {
    expect(RegisterEndpointBody.parse({ id: "my-app", url: "http://localhost:3000/api/trigger" })).toEqual({
      id: "my-app",
      url: "http://localhost:3000/api/trigger",
    });
    expect(RegisterEndpointBody.parse({ name: "my-app", url: "https://example.com/api" })).toEqual({ id: "my-app", url: "https://example.com/api" });
    expect(RegisterEndpointBody.safeParse({ id: "x", url: "file:///etc/passwd" }).success).toBe(false);
    expect(RegisterEndpointBody.safeParse({ url: "https://example.com" }).success).toBe(false);
  });

  it("ListRunsQuery reads query strings: take defaults to 20 and stays within 1..100, status is a list", () => {
    expect(ListRunsQuery.parse({})).toEqual({ take: 20 });
    expect(ListRunsQuery.parse({ take: "100", status: "SUCCESS,FAILURE", jobId: "j" })).toEqual({
      take: 100,
      status: ["SUCCESS", "FAILURE"],
      jobId: "j",
    });
    expect(ListRunsQuery.safeParse({ take: "0" }).success).toBe(false);
    expect(ListRunsQuery.safeParse({ take: "101" }).success).toBe(false);
    expect(ListRunsQuery.safeParse({ status: "DONE" }).success).toBe(false);
  });

  it("GetRunQuery reads boolean flags from query strings", () => {
    expect(GetRunQuery.parse({ subtasks: "true", taskdetails: "false" })).toEqual({ subtasks: true, taskdetails: false, take: 20 });
    expect(GetRunQuery.safeParse({ take: "51" }).success).toBe(false);
  });
});

describe("responses", () => {
  it("GetEventResponse is v2's shape", () => {
    const parsed = GetEventResponse.parse({
      id: "evt-1",
      name: "new.user",
      createdAt: "2024-01-01T00:00:00.000Z",
      updatedAt: "2024-01-01T00:00:00.000Z",
      runs: [{ id: "run_1", status: "SUCCESS", startedAt: "2024-01-01T00:00:01.000Z", completedAt: null }],
    });
    expect(parsed.runs[0]?.startedAt).toBeInstanceOf(Date);
  });

  it("GetRunResponse carries a task tree, output and statuses (default [])", () => {
    const parsed = GetRunResponse.parse({
      id: "run_1",
      status: "SUCCESS",
      startedAt: "2024-01-01T00:00:00.000Z",
      updatedAt: "2024-01-01T00:00:05.000Z",
      completedAt: "2024-01-01T00:00:05.000Z",
      output: { ok: true },
      tasks: [
        {
          id: "task_1",
          displayKey: "parent",
          status: "COMPLETED",
          name: "Parent",
          icon: null,
          startedAt: "2024-01-01T00:00:01.000Z",
          completedAt: "2024-01-01T00:00:02.000Z",
          subtasks: [{ id: "task_2", displayKey: null, status: "COMPLETED", name: "log", icon: "log", startedAt: null, completedAt: null }],
        },
      ],
    });
    expect(parsed.tasks[0]?.subtasks?.[0]?.name).toBe("log");
    expect(parsed.statuses).toEqual([]);
  });
});

describe("errors", () => {
  it("the envelope is {error: {code, message, details?}}", () => {
    expect(ErrorBody.parse({ error: { code: "not_found", message: "Run not found" } }).error.code).toBe("not_found");
    expect(ErrorBody.parse({ error: { code: "payload_too_large", message: "Output must be < 3 MiB", details: { limit: 3_145_728 } } }).error.details).toEqual({
      limit: 3_145_728,
    });
    expect(ErrorBody.safeParse({ error: { code: "teapot", message: "x" } }).success).toBe(false);
  });

  it("zodIssuesToDetails joins paths with dots and uses '' for the root", () => {
    expect(
      zodIssuesToDetails([
        { path: ["a", "b", 0], message: "bad" },
        { path: [], message: "root" },
      ]),
    ).toEqual([
      { path: "a.b.0", message: "bad" },
      { path: "", message: "root" },
    ]);
  });

  it("zodIssuesToDetails gives each unknown field of a strict object a detail at its own path", () => {
    const parsed = ListRunsQuery.safeParse({ take: "5", limit: "5", offset: "2" });
    expect(parsed.success).toBe(false);
    if (!parsed.success) {
      expect(zodIssuesToDetails(parsed.error.issues)).toEqual([
        { path: "limit", message: "unknown field" },
        { path: "offset", message: "unknown field" },
      ]);
    }
  });
});
