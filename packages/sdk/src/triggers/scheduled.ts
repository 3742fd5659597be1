import { CronExpressionParser } from "cron-parser";
import { BatonError } from "../errors";
import type { EventSpecification, TriggerMetadata } from "@baton/core";
import type { ParsePayloadResult, Trigger } from "./types";

/** Payload of a scheduled run: the slot time, and the previous slot when there was one (as v2). */
export interface ScheduledPayload {
  readonly ts: Date;
  readonly lastTimestamp?: Date;
}

/** Smallest and largest `intervalTrigger` period in seconds (20 s – 30 days, as v2). */
export const MIN_INTERVAL_SECONDS = 20;
export const MAX_INTERVAL_SECONDS = 2_592_000;

const SCHEDULED_EVENT_NAME = "trigger.scheduled";

function parseScheduledPayload(payload: unknown): ParsePayloadResult<ScheduledPayload> {
  if (typeof payload !== "object" || payload === null) {
    return { success: false, issues: [{ path: [], message: "Expected an object {ts, lastTimestamp?}" }] };
  }
  const record = payload as Record<string, unknown>;
  const ts = toDate(record["ts"]);
  if (!ts) return { success: false, issues: [{ path: ["ts"], message: "Expected a date" }] };
  const last = record["lastTimestamp"] === undefined || record["lastTimestamp"] === null ? undefined : toDate(record["lastTimestamp"]);
  if (record["lastTimestamp"] !== undefined && record["lastTimestamp"] !== null && !last) {
    return { success: false, issues: [{ path: ["lastTimestamp"], message: "Expected a date" }] };
  }
  return { success: true, data: last ? { ts, lastTimestamp: last } : { ts } };
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === "string" || typeof value === "number") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return undefined;
}

/**
 * A trigger that runs the job on a cron schedule, evaluated in **UTC** (as v2). Five fields:
 * `minute hour day-of-month month day-of-week`.
 * @throws BatonError `TRIGGER_INVALID` naming the expression when it is not a valid 5-field cron expression
 *   (validated with `cron-parser`).
 */
export function cronTrigger(options: { readonly cron: string }): Trigger<ScheduledPayload> {
  const cron = typeof options.cron === "string" ? options.cron.trim() : "";
  const fields = cron.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    throw new BatonError(
      "TRIGGER_INVALID",
      `cronTrigger: invalid cron expression "${String(options.cron)}": expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  }
  try {
    CronExpressionParser.parse(cron, { tz: "UTC", strict: false });
  } catch (error) {
    throw new BatonError(
      "TRIGGER_INVALID",
      `cronTrigger: invalid cron expression "${cron}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const event: EventSpecification = {
    name: SCHEDULED_EVENT_NAME,
    title: "Cron Schedule",
    source: "trigger.dev",
    icon: "schedule-cron",
    properties: [{ label: "cron", text: `${cron} (UTC)` }],
  };
  return {
    event,
    toJSON(): TriggerMetadata {
      return { type: "scheduled", schedule: { type: "cron", options: { cron } } };
    },
    parsePayload: parseScheduledPayload,
  };
}

/**
 * A trigger that runs the job every `seconds` seconds.
 * @param options.seconds an integer from 20 to 2,592,000 (30 days), as v2
 * @throws BatonError `TRIGGER_INVALID` naming the value and the allowed range otherwise
 */
export function intervalTrigger(options: { readonly seconds: number }): Trigger<ScheduledPayload> {
  const { seconds } = options;
  if (!Number.isInteger(seconds) || seconds < MIN_INTERVAL_SECONDS || seconds > MAX_INTERVAL_SECONDS) {
    throw new BatonError(
      "TRIGGER_INVALID",
      `intervalTrigger: seconds must be an integer from ${MIN_INTERVAL_SECONDS} to ${MAX_INTERVAL_SECONDS} (30 days), got ${String(seconds)}`,
    );
  }
  const event: EventSpecification = {
    name: SCHEDULED_EVENT_NAME,
    title: "Schedule",
    source: "trigger.dev",
    icon: "schedule-interval",
    properties: [{ label: "interval", text: `${seconds}s` }],
  };
  return {
    event,
    toJSON(): TriggerMetadata {
      return { type: "scheduled", schedule: { type: "interval", options: { seconds } } };
    },
    parsePayload: parseScheduledPayload,
  };
}
