import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { BatonError, cronTrigger, defineIntegration, eventTrigger, intervalTrigger, invokeTrigger, TriggerClient } from "../src/index";
import { API_KEY, FakeApi } from "./helpers/fake-api";

describe("cronTrigger", () => {
  it.each(["*/5 * * * *", "0 9 * * 1-5", "0 0 1 1 *", "30 2 * * SUN"])("accepts %s", (cron) => {
    expect(cronTrigger({ cron }).toJSON()).toEqual({ type: "scheduled", schedule: { type: "cron", options: { cron } } });
  });

  it.each(["", "* * * *", "61 * * * *", "* 25 * * *", "hello world * * *", "* * * * * *"])("rejects %j naming it", (cron) => {
    expect(() => cronTrigger({ cron })).toThrow(BatonError);
    expect(() => cronTrigger({ cron })).toThrow(/invalid cron expression/);
  });

  it("revives the scheduled payload's dates", () => {
    const parsed = cronTrigger({ cron: "* * * * *" }).parsePayload({ ts: "2026-01-01T00:00:00.000Z" });
    expect(parsed.success && parsed.data.ts instanceof Date).toBe(true);
  });
});

describe("intervalTrigger", () => {
  it.each([20, 60, 2_592_000])("accepts %d seconds", (seconds) => {
    expect(intervalTrigger({ seconds }).toJSON()).toEqual({ type: "scheduled", schedule: { type: "interval", options: { seconds } } });
  });

  it.each([19, 0, -1, 2_592_001, 20.5, Number.NaN])("rejects %d with the allowed range", (seconds) => {
    expect(() => intervalTrigger({ seconds })).toThrow(/from 20 to 2592000/);
  });
});

describe("defineJob", () => {
  const client = new TriggerClient({ id: "app", apiKey: API_KEY });

  it.each(["1.0", "v1.0.0", "1.0.0-beta", "one", ""])("rejects version %j, naming it", (version) => {
    expect(() => client.defineJob({ id: "j", name: "j", version, trigger: invokeTrigger(), run: async () => 1 })).toThrow(
      `Invalid job version "${version}"`,
    );
  });

  it("accepts x.y.z and types the payload from the schema", () => {
    const job = client.defineJob({
      id: "typed",
      name: "typed",
      version: "10.20.30",
      trigger: eventTrigger({ name: ["a", "b"], schema: z.object({ n: z.number() }) }),
      run: async (payload) => payload.n + 1,
    });
    expect(job.toJSON().event.name).toEqual(["a", "b"]);
  });
});

describe("TriggerClient options", () => {
  it("checks the API key shape with a clear error", () => {
    expect(() => new TriggerClient({ id: "app", apiKey: "sk_live_123" })).toThrow(/invalid API key .*tr_<env>_<random>/);
    expect(() => new TriggerClient({ id: "app", apiKey: "tr_dev_ok123" })).not.toThrow();
  });

  it("reads BATON_API_KEY / BATON_API_URL, then the TRIGGER_ names, else localhost:3030", () => {
    const saved = { ...process.env };
    try {
      delete process.env["BATON_API_URL"];
      delete process.env["TRIGGER_API_URL"];
      expect(new TriggerClient({ id: "a", apiKey: API_KEY }).apiUrl).toBe("http://localhost:3030");
      process.env["TRIGGER_API_URL"] = "http://trigger:1";
      expect(new TriggerClient({ id: "a", apiKey: API_KEY }).apiUrl).toBe("http://trigger:1");
      process.env["BATON_API_URL"] = "http://baton:2";
      expect(new TriggerClient({ id: "a", apiKey: API_KEY }).apiUrl).toBe("http://baton:2");
      process.env["BATON_API_KEY"] = "not-a-key";
      expect(() => new TriggerClient({ id: "a" })).toThrow(/invalid API key/);
    } finally {
      process.env = saved;
    }
  });
});

describe("integrations and the public API client", () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await new FakeApi().start();
  });
  afterEach(async () => {
    await api.stop();
  });

  it("io.<name>.<method>(key, params) is a task with params as input and a default retry", async () => {
    const sent: string[] = [];
    const resend = defineIntegration({
      id: "resend",
      client: { send: async (to: string) => (sent.push(to), { id: `mail-${to}` }) },
      tasks: { sendEmail: { name: "Send Email", run: async (params: { to: string }, c) => c.send(params.to) } },
    });
    const client = new TriggerClient({ id: "app", apiKey: API_KEY, apiUrl: api.url });
    client.defineJob({
      id: "welcome",
      name: "welcome",
      version: "0.0.1",
      trigger: eventTrigger({ name: "new.user" }),
      integrations: { resend },
      run: async (_p, io) => io.resend.sendEmail("Welcome email", { to: "a@example.com" }),
    });
    const responses = await api.drive(client, "welcome", {}, { baton: true });
    expect(responses[responses.length - 1]).toMatchObject({ status: "SUCCESS", output: { id: "mail-a@example.com" } });
    expect(sent).toEqual(["a@example.com"]);
    const create = api.taskRequests()[0]!;
    expect(create.body).toMatchObject({ name: "Send Email", params: { to: "a@example.com" }, retry: { limit: 8 }, displayKey: "Welcome email" });
  });

  it("4xx answers throw the server's message; sendEvent posts {event, options}", async () => {
    const client = new TriggerClient({ id: "app", apiKey: API_KEY, apiUrl: api.url });
    await expect(client.sendEvent({ name: "x", payload: { a: 1 } })).rejects.toThrow(/404: no route POST \/api\/v1\/events/);
    expect(api.requests[0]?.body).toEqual({ event: { name: "x", payload: { a: 1 } } });
    expect(api.requests[0]?.headers["authorization"]).toBe(`Bearer ${API_KEY}`);
  });

  it("job.invoke posts the payload outside a run, and inside a run is a task forwarding its idempotency key", async () => {
    const client = new TriggerClient({ id: "app", apiKey: API_KEY, apiUrl: api.url });
    const child = client.defineJob({ id: "child", name: "child", version: "1.0.0", trigger: invokeTrigger(), run: async () => 1 });
    expect(await child.invoke({ n: 1 }, { idempotencyKey: "k1", context: { by: "test" } })).toEqual({ id: "run_invoked_child" });
    expect(api.requests[0]?.body).toEqual({ payload: { n: 1 }, context: { by: "test" } });
    expect(api.requests[0]?.headers["idempotency-key"]).toBe("k1");

    client.defineJob({
      id: "parent",
      name: "parent",
      version: "1.0.0",
      trigger: eventTrigger({ name: "p" }),
      run: async () => child.invoke("start-child", { n: 2 }),
    });
    const responses = await api.drive(client, "parent", {}, { baton: true, runId: "run_parent" });
    expect(responses[responses.length - 1]).toMatchObject({ status: "SUCCESS", output: { id: "run_invoked_child" } });
    const invoke = api.requests.find((r) => r.path.endsWith("/invoke") && r.body.payload?.n === 2);
    const { taskIdempotencyKey } = await import("../src/index");
    expect(invoke?.headers["idempotency-key"]).toBe(taskIdempotencyKey("run_parent", undefined, "start-child"));
  });
});
