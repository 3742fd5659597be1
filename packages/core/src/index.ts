export * from "./events";
export * from "./protocol";
export * from "./api";
export * from "./errors";
export * from "./retry";
export * from "./event-filter";
export * from "./job-version";
export * from "./api-key";
