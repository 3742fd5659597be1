import { z } from "zod";

/** The years a date may have on the wire: what an ISO 8601 string with a 4-digit year can say, and Postgres stores. */
export const DATE_YEARS = { min: 1, max: 9999 } as const;

/**
 * A date as the protocol and the API take it: an ISO 8601 string, epoch milliseconds or a `Date`, coerced with
 * `new Date(x)` (as v2's `z.coerce.date()`), in the years {@link DATE_YEARS}. A date beyond them (say
 * `"+099999-01-01T00:00:00Z"`) is refused with an issue naming its field: Postgres cannot read the 6-digit year of
 * its ISO form, which used to make such input a 500.
 */
export const WireDate = z.coerce
  .date({ error: "must be a date: an ISO 8601 string or epoch milliseconds" })
  .min(new Date(Date.UTC(DATE_YEARS.min, 0, 1)), { error: `must be a date between the years ${DATE_YEARS.min} and ${DATE_YEARS.max}` })
  .max(new Date(Date.UTC(DATE_YEARS.max, 11, 31, 23, 59, 59, 999)), { error: `must be a date between the years ${DATE_YEARS.min} and ${DATE_YEARS.max}` });
