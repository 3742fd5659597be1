import { ERROR_HTTP_STATUS, type ErrorCode } from "@baton/core";

/** An error with an HTTP status and a stable code; the one error type routes and commands throw for the client. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ApiError";
    this.status = ERROR_HTTP_STATUS[code];
  }
}

export const notFound = (what: string): ApiError => new ApiError("not_found", `${what} not found`);
export const conflict = (message: string, details?: unknown): ApiError => new ApiError("conflict", message, details);
/** 413 naming the limit in the message and in `details.limit` (bytes). */
export const tooLarge = (message: string, limitBytes: number): ApiError => new ApiError("payload_too_large", message, { limit: limitBytes });
