import type { EventSpecification, TriggerMetadata } from "@baton/core";

/** One problem found in a payload: `path` lists the keys down to it (`["user", "age"]`), `[]` for the root (v2 `SchemaError`). */
export interface PayloadIssue {
  readonly path: string[];
  readonly message: string;
}

/** Anything with zod's `safeParse` shape (zod 3/4, valibot adapters, ...). */
export interface SchemaLike<T = unknown> {
  safeParse(input: unknown):
    | { success: true; data: T }
    | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

/** The output type of a {@link SchemaLike}. */
export type InferSchema<S> = S extends { safeParse(input: unknown): infer R }
  ? Extract<R, { success: true }> extends { data: infer D }
    ? D
    : unknown
  : unknown;

/** Result of {@link Trigger.parsePayload}. */
export type ParsePayloadResult<T> = { success: true; data: T } | { success: false; issues: PayloadIssue[] };

/**
 * A job trigger: how it is indexed (v2 `TriggerMetadata` + `EventSpecification`) and how a delivered payload
 * becomes the typed `payload` of `run`.
 */
export interface Trigger<TPayload> {
  /** The v2 `TriggerMetadata` sent in INDEX_ENDPOINT. */
  toJSON(): TriggerMetadata;
  /** The v2 `EventSpecification` sent in INDEX_ENDPOINT (`JobMetadata.event`). */
  readonly event: EventSpecification;
  /** Validates (and for schedules: revives dates in) a delivered payload. */
  parsePayload(payload: unknown): ParsePayloadResult<TPayload>;
  /** Phantom, only for type inference. */
  readonly __payload?: TPayload;
}

/** The payload type of a trigger. */
export type TriggerPayload<T> = T extends Trigger<infer P> ? P : never;

/** Runs `schema.safeParse` and flattens zod-style issues to `{path, message}`. */
export function parseWithSchema<T>(schema: SchemaLike<T> | undefined, payload: unknown): ParsePayloadResult<T> {
  if (!schema) return { success: true, data: payload as T };
  const result = schema.safeParse(payload);
  if (result.success) return { success: true, data: result.data };
  return {
    success: false,
    issues: result.error.issues.map((issue) => ({
      path: issue.path.map((part) => (typeof part === "symbol" ? part.toString() : String(part))),
      message: issue.message,
    })),
  };
}
