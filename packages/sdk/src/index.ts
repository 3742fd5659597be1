/**
 * @baton/sdk — define durable jobs with the Trigger.dev v2 job API and serve them from your app.
 */
export {
  TriggerClient,
  BATON_PROTOCOL_VERSION,
  DEFAULT_API_URL,
  SDK_VERSION,
  TRIGGER_API_VERSION,
  type ListenOptions,
  type ListeningEndpoint,
  type TriggerClientOptions,
} from "./client";
export { Job, type ConcurrencyLimitOptions, type InvokeOptions, type InvokedRun, type JobOptions, type TriggerContext } from "./job";
export {
  IO,
  MAX_WAIT_SECONDS,
  type DisplayProperty,
  type IOLogger,
  type IOTask,
  type RunTaskErrorCallback,
  type RunTaskErrorResult,
  type RunTaskOptions,
  type TaskKey,
} from "./io";
export {
  DEFAULT_API_TIMEOUT_MS,
  httpTransport,
  type ApiTransport,
  type ApiTransportRequest,
  type ApiTransportResponse,
} from "./api-client";
export { LOG_LEVELS, MAX_TASK_DEPTH, COMPLETION_FLUSH_DELAY_MS, DEFAULT_AUTO_YIELD_THRESHOLDS, type LogLevel, type AutoYieldThresholds } from "./execution";
export * from "./triggers/index";
export * from "./adapters/index";
export {
  defineIntegration,
  type AnyIntegration,
  type Integration,
  type IntegrationIO,
  type IntegrationOptions,
  type IntegrationTaskDefinition,
  type IOWithIntegrations,
} from "./integrations";
export {
  ApiError,
  AutoYieldExecutionError,
  AutoYieldWithCompletedTaskExecutionError,
  BatonError,
  CanceledWithTaskError,
  ControlFlowSentinel,
  ErrorWithTask,
  ParsedPayloadSchemaError,
  ResumeWithParallelTaskError,
  ResumeWithTaskError,
  RetryWithTaskError,
  YieldExecutionError,
  isTriggerError,
  type BatonErrorCode,
} from "./errors";
export { DEFAULT_OUTPUT_LIMIT_BYTES, deserializeOutput, serializeOutput, findUnserializable } from "./serialization";
export { displayKey, stableStringify, taskIdempotencyKey } from "./task-key";
export { standardBackoff, exponentialBackoff, API_KEY_PATTERN, type RetryOptions } from "@baton/core";

/** v2-style retry presets: `retry.standardBackoff`, `retry.exponentialBackoff`. */
export { retry } from "./retry";
