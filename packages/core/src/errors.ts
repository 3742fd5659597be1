import { z } from "zod";

/**
 * Stable, machine-readable error codes of Baton's public HTTP API. Each maps to one HTTP status
 * ({@link ERROR_HTTP_STATUS}); clients branch on the code, never on the message.
 */
export const ErrorCode = z.enum([
  "bad_request",
  "validation_failed",
  "unauthorized",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "internal",
  "service_unavailable",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The HTTP status that goes with each {@link ErrorCode}. */
export const ERROR_HTTP_STATUS = {
  bad_request: 400,
  validation_failed: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  service_unavailable: 503,
} as const satisfies Record<ErrorCode, number>;

/** One validation problem: `path` is the dotted path into the input (`"event.payload.0"`, `""` for the root). */
export const ErrorDetail = z.object({
  path: z.string(),
  message: z.string(),
});
export type ErrorDetail = z.infer<typeof ErrorDetail>;

/**
 * The one JSON error envelope of the public API (SPEC §5): `{error: {code, message, details?}}`.
 * `details` is a list of {@link ErrorDetail} for validation errors, or an object with context
 * (e.g. `{limit: 3145728}` for `payload_too_large`).
 */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.union([z.array(ErrorDetail), z.record(z.string(), z.unknown())]).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The minimal shape of a zod issue that {@link zodIssuesToDetails} reads (zod 3 and zod 4 issues both fit). */
export interface IssueLike {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** zod's issue code; `unrecognized_keys` issues (strict objects) carry the unknown `keys` */
  readonly code?: string;
  readonly keys?: readonly string[];
}

/**
 * Turns zod issues into envelope details: `[{path: "a.b.0", message}]`, path segments joined by dots,
 * `""` for an issue on the root value. An unknown field of a strict object gets a detail of its own, at its path
 * (`{path: "limit", message: "unknown field"}`), rather than one detail on the object listing them.
 */
export function zodIssuesToDetails(issues: readonly IssueLike[]): ErrorDetail[] {
  const join = (path: readonly PropertyKey[]): string => path.map((segment) => String(segment)).join(".");
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" && issue.keys?.length
      ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: "unknown field" }))
      : [{ path: join(issue.path), message: issue.message }],
  );
}
