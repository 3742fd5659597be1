/**
 * express adapter, typed structurally (express is not a dependency).
 * @example app.post("/api/trigger", createExpressHandler(client))
 */
import type { TriggerClient } from "../client";
import { hangUpSignal, toFetchRequest, writeFetchResponse, type NodeRequestLike, type NodeResponseLike } from "./node";

/** An express request: a node request, maybe with a body already parsed by `express.json()`/`express.raw()`. */
export interface ExpressRequestLike extends NodeRequestLike {
  readonly body?: unknown;
  readonly originalUrl?: string;
}

/**
 * An express handler serving `client`. Works with or without body-parsing middleware: a parsed body is
 * re-serialized as JSON, a raw Buffer/string is used as is, otherwise the stream is read.
 */
export function createExpressHandler(
  client: TriggerClient,
): (req: ExpressRequestLike, res: NodeResponseLike, next?: (error?: unknown) => void) => Promise<void> {
  return async (req, res, next) => {
    try {
      const body = req.body;
      let override: string | Uint8Array | undefined;
      if (typeof body === "string" || body instanceof Uint8Array) override = body;
      else if (body !== undefined && body !== null && typeof body === "object" && Object.keys(body).length > 0) override = JSON.stringify(body);
      // express's res is a node ServerResponse: its early close means the server hung up
      const closable = res as Partial<Parameters<typeof hangUpSignal>[0]>;
      const signal = typeof closable.once === "function" && typeof closable.writableFinished === "boolean" ? hangUpSignal(closable as Parameters<typeof hangUpSignal>[0]) : undefined;
      const request = await toFetchRequest(req, override, signal);
      await writeFetchResponse(res, await client.handleRequest(request));
    } catch (error) {
      if (next) next(error);
      else throw error;
    }
  };
}
