import { eventTrigger } from "@baton/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Hits, startE2E, type E2E } from "./helpers";

const hits = new Hits();
let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    client.defineJob({
      id: "hello",
      name: "Hello",
      version: "1.0.0",
      trigger: eventTrigger({ name: "hello.world", schema: z.object({ name: z.string() }) }),
      run: async (payload, io) => {
        const greeting = await io.runTask("greet", async () => {
          hits.hit(`greet:${payload.name}`);
          return { text: `Hello ${payload.name}`, at: new Date("2026-01-01T00:00:00Z") };
        });
        await io.logger.info("greeted", { name: payload.name });
        await io.wait("pause", 1);
        const after = await io.runTask("after", async () => {
          hits.hit(`after:${payload.name}`);
          return { isDate: greeting.at instanceof Date };
        });
        return { greeting: greeting.text, ...after };
      },
    });
  });
});
afterAll(async () => e2e?.close());

describe("a run end to end", () => {
  it("runs tasks once, waits durably, and succeeds with its output", async () => {
    const event = await e2e.sendEvent("hello.world", { name: "Ada" }, { id: "hello-1" });
    const [runId] = await e2e.waitForRuns(event.id);
    const waiting = await e2e.waitForRun(runId!, ["WAITING_TO_CONTINUE", "SUCCESS", "FAILURE"]);
    expect(waiting.status).toBe("WAITING_TO_CONTINUE");
    const run = await e2e.waitForRun(runId!);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual({ greeting: "Hello Ada", isDate: true });
    expect(hits.of("greet:Ada")).toBe(1);
    expect(hits.of("after:Ada")).toBe(1);
    const names = run.tasks.map((t: { name: string }) => t.name);
    expect(names).toEqual(["Task", "log", "wait", "Task"]);
  });

  it("records INVALID_PAYLOAD with the paths of the issues and never calls run()", async () => {
    const event = await e2e.sendEvent("hello.world", { name: 42 }, { id: "hello-bad" });
    const [runId] = await e2e.waitForRuns(event.id);
    const run = await e2e.waitForRun(runId!);
    expect(run.status).toBe("INVALID_PAYLOAD");
    expect(JSON.stringify(run.error)).toContain("name");
    expect(hits.of("greet:42")).toBe(0);
  });
});
