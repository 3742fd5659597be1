import { BatonError } from "../errors";
import { deepMergeFilters, type EventFilter, type EventSpecification, type TriggerMetadata } from "@baton/core";
import { parseWithSchema, type InferSchema, type ParsePayloadResult, type SchemaLike, type Trigger } from "./types";

/** Options of {@link eventTrigger}. */
export interface EventTriggerOptions<TSchema extends SchemaLike | undefined> {
  /** Exact, case-sensitive event name, or several (any of them triggers). */
  readonly name: string | readonly string[];
  /** Validates and types the payload; an invalid payload ends the run as `INVALID_PAYLOAD`, `run` never called. */
  readonly schema?: TSchema;
  /** v2 EventFilter on the payload (reference §5.3). */
  readonly filter?: EventFilter;
  /** Event source to match; default `"trigger.dev"` (as v2). */
  readonly source?: string;
  /** Example payloads, shown by dashboards. */
  readonly examples?: ReadonlyArray<{ id: string; name: string; payload?: unknown }>;
}

/** The payload type an {@link eventTrigger} gives `run`: the schema's output, else `any`. */
export type EventTriggerPayload<TSchema> = TSchema extends SchemaLike ? InferSchema<TSchema> : any;

/**
 * A trigger that starts a run for every event whose name is `name` (and whose source and payload match), as v2's
 * `eventTrigger`. Serializes as `{type:"static", title, rule:{event, source, payload}}`.
 * @throws BatonError `TRIGGER_INVALID` when `name` is empty.
 */
export function eventTrigger<TSchema extends SchemaLike | undefined = undefined>(
  options: EventTriggerOptions<TSchema>,
): Trigger<EventTriggerPayload<TSchema>> {
  const names = typeof options.name === "string" ? [options.name] : [...options.name];
  if (names.length === 0 || names.some((n) => typeof n !== "string" || n.length === 0)) {
    throw new BatonError("TRIGGER_INVALID", "eventTrigger: `name` must be a non-empty string or a list of them");
  }
  const name: string | string[] = names.length === 1 ? (names[0] as string) : names;
  const source = options.source ?? "trigger.dev";
  const filter = options.filter ? deepMergeFilters(options.filter) : undefined;
  const event: EventSpecification = {
    name,
    title: names.join(", "),
    source,
    icon: "custom-event",
    ...(filter ? { filter } : {}),
    ...(options.examples ? { examples: [...options.examples] } : {}),
  };
  return {
    event,
    toJSON(): TriggerMetadata {
      return { type: "static", title: name, rule: { event: name, source, ...(filter ? { payload: filter } : {}) } };
    },
    parsePayload(payload: unknown): ParsePayloadResult<EventTriggerPayload<TSchema>> {
      return parseWithSchema(options.schema as SchemaLike<EventTriggerPayload<TSchema>> | undefined, payload);
    },
  };
}
