/**
 * hono adapter (hono is an optional peer dependency; only its types are imported).
 * @example app.post("/api/trigger", createHonoHandler(client))
 */
import type { Context } from "hono";
import type { TriggerClient } from "../client";

/** A hono handler (also usable as middleware: it always answers) serving `client`. */
export function createHonoHandler(client: TriggerClient): (c: Context) => Promise<Response> {
  return (c: Context) => client.handleRequest(c.req.raw);
}
