import type { EventSpecification, TriggerMetadata } from "@baton/core";
import { parseWithSchema, type InferSchema, type ParsePayloadResult, type SchemaLike, type Trigger } from "./types";

/** Options of {@link invokeTrigger}. */
export interface InvokeTriggerOptions<TSchema extends SchemaLike | undefined> {
  /** Validates and types the payload given to `job.invoke`. */
  readonly schema?: TSchema;
  readonly examples?: ReadonlyArray<{ id: string; name: string; payload?: unknown }>;
}

/**
 * A trigger for jobs started only by `job.invoke()` / `POST /api/v1/jobs/:id/invoke` (v2 `invokeTrigger`).
 * Serializes as `{type:"invoke"}`; the server's synthetic event is named `"invoke"`.
 */
export function invokeTrigger<TSchema extends SchemaLike | undefined = undefined>(
  options: InvokeTriggerOptions<TSchema> = {},
): Trigger<TSchema extends SchemaLike ? InferSchema<TSchema> : any> {
  const event: EventSpecification = {
    name: "invoke",
    title: "Manual Invoke",
    source: "trigger.dev",
    icon: "trigger",
    ...(options.examples ? { examples: [...options.examples] } : {}),
  };
  return {
    event,
    toJSON(): TriggerMetadata {
      return { type: "invoke" };
    },
    parsePayload(payload: unknown): ParsePayloadResult<any> {
      return parseWithSchema(options.schema, payload);
    },
  };
}
