/**
 * express adapter, typed structurally (express is not a dependency).
 * @example app.post("/api/trigger", createExpressHandler(client))
 */
import type { TriggerClient } from "../client";
import {
  decodeBody,
  nodeEndpointRequest,
  normalizeMethod,
  readNodeBody,
  writeAnswer,
  type HangUpWatchable,
  type NodeRequestLike,
  type NodeResponseLike,
} from "./node";

/** An express request: a node request, maybe with a body already parsed by `express.json()`/`express.raw()`. */
export interface ExpressRequestLike extends NodeRequestLike {
  readonly body?: unknown;
  readonly originalUrl?: string;
}

/**
 * An express handler serving `client`: answers as `client.handleRequest` would (status, headers, JSON body). Works
 * with or without body-parsing middleware: a parsed body is re-serialized as JSON, a raw Buffer/string is used as is,
 * otherwise the stream is read. Errors (a body over 64 MiB or that cannot be read) go to `next`, or are thrown without
 * it. When express's `res` closes before the answer is written (the server hung up), an EXECUTE_JOB stops at its next
 * task.
 */
export function createExpressHandler(
  client: TriggerClient,
): (req: ExpressRequestLike, res: NodeResponseLike, next?: (error?: unknown) => void) => Promise<void> {
  return async (req, res, next) => {
    try {
      const method = normalizeMethod(req.method);
      let text = "";
      if (method !== "GET" && method !== "HEAD") {
        const body = req.body;
        if (typeof body === "string" || body instanceof Uint8Array) text = decodeBody(body);
        else if (body !== undefined && body !== null && typeof body === "object" && Object.keys(body).length > 0) text = JSON.stringify(body);
        else text = decodeBody(await readNodeBody(req));
      }
      // express's res is a node ServerResponse: its early close means the server hung up
      const closable = res as Partial<HangUpWatchable>;
      const watchable = typeof closable.once === "function" && typeof closable.writableFinished === "boolean" ? (closable as HangUpWatchable) : undefined;
      writeAnswer(res, await client.handleEndpointRequest(nodeEndpointRequest(req, method, text, watchable)));
    } catch (error) {
      if (next) next(error);
      else throw error;
    }
  };
}
