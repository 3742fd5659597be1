export { createNodeHandler, toFetchRequest, writeFetchResponse, type NodeRequestLike, type NodeResponseLike } from "./node";
export { createExpressHandler, type ExpressRequestLike } from "./express";
export { createHonoHandler } from "./hono";
