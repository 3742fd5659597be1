export { eventTrigger, type EventTriggerOptions, type EventTriggerPayload } from "./event";
export { invokeTrigger, type InvokeTriggerOptions } from "./invoke";
export {
  cronTrigger,
  intervalTrigger,
  MAX_INTERVAL_SECONDS,
  MIN_INTERVAL_SECONDS,
  type ScheduledPayload,
} from "./scheduled";
export type { InferSchema, ParsePayloadResult, PayloadIssue, SchemaLike, Trigger, TriggerPayload } from "./types";
