import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hits, startE2E, type E2E } from "../../../../services/server/test/e2e/helpers";
import { defineTestJob, flattenTasks, startRun } from "./support";

const hits = new Hits();
let e2e: E2E;
/** The cause of the failure: while true, the "charge" body throws. */
let paymentServiceDown = true;

beforeAll(async () => {
  e2e = await startE2E((client) => {
    defineTestJob(client, "checkout", async (_p, io) => {
      const cart = await io.runTask("load-cart", async () => {
        hits.hit("load-cart");
        return { total: 42 };
      });
      const reserved = await io.runTask("reserve-stock", async () => {
        hits.hit("reserve-stock");
        return "reserved";
      });
      const receipt = await io.runTask("charge", async () => {
        hits.hit("charge");
        if (paymentServiceDown) throw new Error("payment service unavailable");
        return { charged: cart.total };
      });
      const shipped = await io.runTask("ship", async () => {
        hits.hit("ship");
        return "shipped";
      });
      return { reserved, receipt, shipped };
    });
  });
});
afterAll(async () => e2e?.close());

describe("errors are never cached", () => {
  it("a task that threw runs again on continue once the cause is fixed; tasks completed before it stay cached", async () => {
    const runId = await startRun(e2e, "checkout");
    const failed = await e2e.waitForRun(runId);
    expect(failed.status).toBe("FAILURE");
    expect(failed.error.message).toContain("payment service unavailable");
    expect(failed.error.message).toContain('"charge"');
    expect(flattenTasks(failed.tasks).map((t) => [t.displayKey, t.status])).toEqual([
      ["load-cart", "COMPLETED"],
      ["reserve-stock", "COMPLETED"],
      ["charge", "ERRORED"],
    ]);
    expect([hits.of("load-cart"), hits.of("reserve-stock"), hits.of("charge"), hits.of("ship")]).toEqual([1, 1, 1, 0]);

    paymentServiceDown = false;
    const continued = await e2e.api("POST", `/api/v1/runs/${runId}/continue`);
    expect(continued.status, JSON.stringify(continued.body)).toBe(200);

    const run = await e2e.waitForRun(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCESS");
    expect(run.output).toEqual({ reserved: "reserved", receipt: { charged: 42 }, shipped: "shipped" });
    expect([hits.of("load-cart"), hits.of("reserve-stock"), hits.of("charge"), hits.of("ship")]).toEqual([1, 1, 2, 1]);
    expect(flattenTasks(run.tasks).map((t) => [t.displayKey, t.status])).toEqual([
      ["load-cart", "COMPLETED"],
      ["reserve-stock", "COMPLETED"],
      ["charge", "COMPLETED"],
      ["ship", "COMPLETED"],
    ]);
    expect(run.error).toBeNull();
  });
});
