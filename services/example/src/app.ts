/**
 * `createExampleApp`: the whole example app (users table, mail transport, jobs, endpoint) started in one call.
 */
import { TriggerClient } from "@baton/sdk";
import { createExampleDb, ensureExampleSchema } from "./db";
import { DEFAULT_MAIL_FROM, WAIT_SECONDS, defineExampleJobs, type ExampleJobs } from "./jobs";
import { defaultMailDir, startMailServer, type MailServer } from "./mail-server";
import { createMailTransport, createResendIntegration } from "./resend";

/** Endpoint id the example registers with the server (the `TriggerClient` id). */
export const EXAMPLE_CLIENT_ID = "example-app";

/** Options of {@link createExampleApp}. */
export interface ExampleAppOptions {
  /** Database for schema `example` (normally Baton's own database). */
  readonly connectionString: string;
  /** Baton server URL, e.g. `http://127.0.0.1:3030`. */
  readonly apiUrl: string;
  /** The environment's API key (`tr_dev_…`). */
  readonly apiKey: string;
  /** Port of the app's endpoint on 127.0.0.1; default 0 (a free port). */
  readonly port?: number;
  /** Where the loopback SMTP server stores `.eml` files; default `BATON_MAIL_DIR`, else `.baton/mail`. */
  readonly mailDir?: string;
  /** A real SMTP server to send through instead of the loopback one; default `SMTP_URL`. */
  readonly smtpUrl?: string;
  /** `From` of the welcome email; default `BATON_MAIL_FROM`, else `Baton Example <welcome@example.com>`. */
  readonly from?: string;
  /** Seconds the `new-user` job waits; default `BATON_DEMO_WAIT_SECONDS`, else 3 hours. */
  readonly waitSeconds?: number;
  /** Register the endpoint with the server (default true). */
  readonly register?: boolean;
}

/** A running example app. */
export interface ExampleApp {
  readonly client: TriggerClient;
  readonly jobs: ExampleJobs;
  /** URL of the endpoint the server calls, e.g. `http://127.0.0.1:41234/api/trigger`. */
  readonly url: string;
  /** Folder of the stored `.eml` files; `undefined` when sending through `SMTP_URL`. */
  readonly mailDir: string | undefined;
  /** Port of the loopback SMTP server; `undefined` when sending through `SMTP_URL`. */
  readonly smtpPort: number | undefined;
  /** Stops the endpoint, the SMTP server and the database pool, in that order. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the example app: creates schema `example` and seeds users (idempotent), starts the loopback SMTP server
 * (unless `smtpUrl`/`SMTP_URL` is given), defines the jobs on a `TriggerClient` with id `example-app`, serves it with
 * `client.listen` and registers the endpoint with the server (which then indexes it).
 *
 * @throws when the wait setting is not a number >= 0, the database is unreachable, a port cannot be bound, or the server refuses the registration (bad key,
 *   server down); everything started so far is stopped first
 */
export async function createExampleApp(options: ExampleAppOptions): Promise<ExampleApp> {
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => console.error("[example] error while stopping:", error));
    }
  };
  const waitSeconds = options.waitSeconds ?? WAIT_SECONDS;
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) {
    throw new Error(`BATON_DEMO_WAIT_SECONDS must be a number of seconds >= 0, got "${String(process.env["BATON_DEMO_WAIT_SECONDS"] ?? waitSeconds)}"`);
  }
  try {
    const db = createExampleDb(options.connectionString);
    cleanups.push(() => db.destroy());
    await ensureExampleSchema(db);

    const smtpUrl = options.smtpUrl ?? (process.env["SMTP_URL"] || undefined);
    let mailServer: MailServer | undefined;
    if (!smtpUrl) {
      mailServer = await startMailServer({ mailDir: options.mailDir ?? defaultMailDir() });
      cleanups.push(mailServer.close);
    }
    const transport = createMailTransport(smtpUrl ? { smtpUrl } : { host: mailServer!.host, port: mailServer!.port });
    cleanups.push(async () => transport.close());

    const client = new TriggerClient({ id: EXAMPLE_CLIENT_ID, apiKey: options.apiKey, apiUrl: options.apiUrl });
    const jobs = defineExampleJobs(client, {
      db,
      resend: createResendIntegration(transport),
      from: options.from ?? DEFAULT_MAIL_FROM,
      waitSeconds,
    });
    const endpoint = await client.listen({ port: options.port ?? 0 });
    cleanups.push(endpoint.close);
    if (options.register ?? true) await client.registerEndpoint({ url: endpoint.url });

    let closing: Promise<void> | undefined;
    return {
      client,
      jobs,
      url: endpoint.url,
      mailDir: mailServer?.mailDir,
      smtpPort: mailServer?.port,
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
