/**
 * Integrations: a client object plus named task definitions, exposed on `io` under the key the job gives it
 * (`integrations: { resend }` → `io.resend.sendEmail(key, params)`), each call a task (v2 `ioWithIntegrations`).
 */
import type { IO, IOTask, IntegrationBinder } from "./io";
import { standardBackoff, type RetryOptions } from "@baton/core";

/** One method of an integration. */
export interface IntegrationTaskDefinition<TClient, TParams, TResult> {
  /** Dashboard name; default the method name. */
  readonly name?: string;
  /** Dashboard icon; default the integration id. */
  readonly icon?: string;
  /** Retry options; default `standardBackoff` (8 attempts, 0.5 s–30 s, as v2's integration "sensible defaults"). */
  readonly retry?: RetryOptions;
  /** Does the work; `params` are shown as the task's input. */
  readonly run: (params: TParams, client: TClient, task: IOTask, io: IO) => Promise<TResult>;
}

/** Options of {@link defineIntegration}. */
export interface IntegrationOptions<TClient, TTasks extends Record<string, IntegrationTaskDefinition<TClient, any, any>>> {
  /** Stable id (also the default icon), e.g. `"resend"`. */
  readonly id: string;
  readonly name?: string;
  /** The SDK client the tasks call (e.g. a `Resend` or nodemailer transport). */
  readonly client: TClient;
  readonly tasks: TTasks;
}

/** A defined integration; pass it in `defineJob({ integrations: { key: integration } })`. */
export interface Integration<TClient, TTasks extends Record<string, IntegrationTaskDefinition<TClient, any, any>>> {
  readonly id: string;
  readonly name: string;
  readonly client: TClient;
  readonly tasks: TTasks;
  /** @internal Builds the `io.<key>` object for one `io`. */
  readonly bind: IntegrationBinder;
}

/** Any integration. */
export type AnyIntegration = Integration<any, Record<string, IntegrationTaskDefinition<any, any, any>>>;

/** What `io.<key>` looks like for an integration: each task as `(key, params) => Promise<result>`, plus `client`. */
export type IntegrationIO<TIntegration> =
  TIntegration extends Integration<infer TClient, infer TTasks>
    ? {
        readonly [K in keyof TTasks]: TTasks[K] extends IntegrationTaskDefinition<TClient, infer P, infer R>
          ? (key: string | readonly unknown[], params: P) => Promise<R>
          : never;
      } & { readonly client: TClient }
    : never;

/** The `io` of a job with integrations: {@link IO} plus one property per integration key. */
export type IOWithIntegrations<TIntegrations extends Record<string, AnyIntegration>> = IO & {
  readonly [K in keyof TIntegrations]: IntegrationIO<TIntegrations[K]>;
};

/**
 * Defines an integration.
 * @example
 * const resend = defineIntegration({ id: "resend", client: new Resend(key), tasks: {
 *   sendEmail: { name: "Send Email", run: (params: SendEmailParams, client) => client.emails.send(params) },
 * }});
 */
export function defineIntegration<TClient, TTasks extends Record<string, IntegrationTaskDefinition<TClient, any, any>>>(
  options: IntegrationOptions<TClient, TTasks>,
): Integration<TClient, TTasks> {
  const { id, client, tasks } = options;
  const bind: IntegrationBinder = (io: IO) => {
    const bound: Record<string, unknown> = { client };
    for (const [method, definition] of Object.entries(tasks)) {
      bound[method] = (key: string | readonly unknown[], params: unknown) =>
        io.runTask(
          key,
          (task, taskIo) => definition.run(params, client, task, taskIo),
          {
            name: definition.name ?? method,
            icon: definition.icon ?? id,
            params,
            retry: definition.retry ?? standardBackoff,
            properties: [{ label: "Integration", text: options.name ?? id }],
          },
        );
    }
    return bound;
  };
  return { id, name: options.name ?? id, client, tasks, bind };
}
