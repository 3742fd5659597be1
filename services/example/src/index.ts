/**
 * `@baton/example`: the seed app that `npm start` and `npm run demo` run next to the server.
 *
 * ```ts
 * process.env.BATON_DEMO_WAIT_SECONDS = "2";        // before the first import: shortens the new-user wait
 * const { createExampleApp } = await import("@baton/example");
 * const app = await createExampleApp({ connectionString, apiUrl: server.url, apiKey: server.apiKeys.dev });
 * app.url;       // the endpoint the server calls
 * app.mailDir;   // where the welcome emails land as .eml files
 * await app.close();
 * ```
 */
export { createExampleApp, EXAMPLE_CLIENT_ID, type ExampleApp, type ExampleAppOptions } from "./app";
export {
  defineExampleJobs,
  welcomeEmail,
  DEFAULT_MAIL_FROM,
  NewUserPayload,
  RetryDemoPayload,
  WAIT_SECONDS,
  type ExampleJobDeps,
  type ExampleJobs,
} from "./jobs";
export {
  SEED_USERS,
  countUsers,
  createExampleDb,
  ensureExampleSchema,
  findUser,
  recordAttempt,
  type ExampleDatabase,
  type NewUser,
  type User,
  type WelcomeReportRow,
} from "./db";
export { createWelcomeReport, emailDomain, scoreUser, type WelcomeReport } from "./welcome-report";
export { defaultMailDir, startMailServer, type MailServer, type MailServerOptions } from "./mail-server";
export {
  createMailTransport,
  createResendIntegration,
  deliverEmail,
  type MailTransport,
  type MailTransportTarget,
  type ResendIntegration,
  type SendEmailParams,
  type SendEmailResult,
} from "./resend";
export { findMailTo, parseMailFile, readMailbox, type StoredMail } from "./mailbox";
export {
  BatonApiError,
  TERMINAL_STATUSES,
  getEvent,
  getRun,
  sendEvent,
  waitForEventRuns,
  type BatonApi,
  type EventRunSummary,
  type EventWithRuns,
  type RunDetails,
  type RunsProgress,
} from "./baton-api";
