import { eventTrigger, type TriggerClient } from "@baton/sdk";
import { z } from "zod";

/** Emails "sent" by the seed-like job (the test's mail transport). */
export interface Outbox {
  readonly sent: Array<{ to: string; subject: string }>;
}

/**
 * A job shaped like the seed job (SPEC §10): a welcome-email task (with a redacted provider token in its output),
 * a log line, a durable `io.wait`, then a last task. `waitSeconds` per event via the payload.
 */
export function defineSeedLikeJob(client: TriggerClient, outbox: Outbox): void {
  client.defineJob({
    id: "new-user",
    name: "Run when a new user signs up",
    version: "0.0.1",
    trigger: eventTrigger({ name: "new.user", schema: z.object({ userId: z.string(), waitSeconds: z.number().default(1) }) }),
    run: async (payload, io) => {
      const to = `${payload.userId}@example.com`;
      const email = await io.runTask(
        "welcome-email",
        async () => {
          outbox.sent.push({ to, subject: "Welcome!" });
          return { id: `msg_${payload.userId}`, to, providerToken: "secret-token-123" };
        },
        {
          name: "Send email",
          icon: "mail",
          params: { to, subject: "Welcome!" },
          properties: [{ label: "To", text: to }],
          redact: { paths: ["providerToken"] },
        },
      );
      await io.logger.info("welcome email sent", { messageId: email.id });
      await io.wait("wait", payload.waitSeconds);
      return await io.runTask("my-task", async () => ({ report: `report for ${payload.userId}` }), { name: "My Task" });
    },
  });
}
