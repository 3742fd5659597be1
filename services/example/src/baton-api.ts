/**
 * A small client of Baton's public HTTP API (what `curl` would do), used by `npm run demo` and the e2e test:
 * send an event with a known id, then follow the runs it started until they finish.
 */
import { z } from "zod";

/** Run statuses after which a run does nothing more (unless continued or rerun). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["SUCCESS", "FAILURE", "TIMED_OUT", "ABORTED", "CANCELED", "INVALID_PAYLOAD", "UNRESOLVED_AUTH"]);

const IsoDate = z.coerce.date();

/** A run as listed by `GET /api/v2/events/:id`. */
export const EventRunSummary = z.object({
  id: z.string(),
  status: z.string(),
  startedAt: IsoDate.nullish(),
  completedAt: IsoDate.nullish(),
});
export type EventRunSummary = z.infer<typeof EventRunSummary>;

/** Answer of `GET /api/v2/events/:id`. */
export const EventWithRuns = z.object({
  id: z.string(),
  name: z.string(),
  runs: z.array(EventRunSummary),
});
export type EventWithRuns = z.infer<typeof EventWithRuns>;

/** The parts of `GET /api/v2/runs/:runId` the example reads. */
export const RunDetails = z.object({
  id: z.string(),
  status: z.string(),
  startedAt: IsoDate.nullish(),
  completedAt: IsoDate.nullish(),
  output: z.unknown().optional(),
  error: z.object({ message: z.string() }).loose().nullish(),
});
export type RunDetails = z.infer<typeof RunDetails>;

/** Where the server is and which key to use. */
export interface BatonApi {
  /** Server URL, e.g. `http://127.0.0.1:3030`. */
  readonly apiUrl: string;
  readonly apiKey: string;
}

/** A non-2xx answer of the server, with its status and body. */
export class BatonApiError extends Error {
  readonly code = "BATON_API_ERROR";
  constructor(
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(message);
    this.name = "BatonApiError";
  }
}

async function call(api: BatonApi, method: "GET" | "POST", route: string, body?: unknown): Promise<unknown> {
  const response = await fetch(new URL(route, api.apiUrl), {
    method,
    headers: { authorization: `Bearer ${api.apiKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new BatonApiError(response.status, text, `${method} ${route} answered ${response.status}: ${text.slice(0, 500)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/**
 * Sends one event (`POST /api/v1/events`) with an explicit id, so its runs can be found with {@link getEvent}.
 * @throws BatonApiError on a non-2xx answer
 */
export async function sendEvent(api: BatonApi, event: { readonly id: string; readonly name: string; readonly payload: unknown }): Promise<void> {
  await call(api, "POST", "/api/v1/events", { event });
}

/** The event and the runs it started (`GET /api/v2/events/:id`); `undefined` while the server does not know it (404). */
export async function getEvent(api: BatonApi, eventId: string): Promise<EventWithRuns | undefined> {
  try {
    return EventWithRuns.parse(await call(api, "GET", `/api/v2/events/${encodeURIComponent(eventId)}`));
  } catch (error) {
    if (error instanceof BatonApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** One run with its output or error (`GET /api/v2/runs/:runId`). @throws BatonApiError on a non-2xx answer */
export async function getRun(api: BatonApi, runId: string): Promise<RunDetails> {
  return RunDetails.parse(await call(api, "GET", `/api/v2/runs/${encodeURIComponent(runId)}`));
}

/** Progress of {@link waitForEventRuns}. */
export interface RunsProgress {
  /** Events whose runs have all finished. */
  readonly finished: number;
  readonly total: number;
}

/**
 * Polls `GET /api/v2/events/:id` for each event until each has started at least one run and all its runs are
 * terminal, or `timeoutMs` passes. Returns each event's latest answer (`undefined` for an event the server never
 * showed), so the caller can report what is still unfinished after a timeout.
 */
export async function waitForEventRuns(
  api: BatonApi,
  eventIds: readonly string[],
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly onProgress?: (progress: RunsProgress) => void },
): Promise<{ readonly events: ReadonlyMap<string, EventWithRuns | undefined>; readonly timedOut: boolean }> {
  const deadline = Date.now() + options.timeoutMs;
  const events = new Map<string, EventWithRuns | undefined>();
  while (true) {
    await Promise.all(
      eventIds.map(async (id) => {
        const previous = events.get(id);
        if (previous && isFinished(previous)) return;
        events.set(id, await getEvent(api, id));
      }),
    );
    const finished = eventIds.filter((id) => isFinished(events.get(id))).length;
    options.onProgress?.({ finished, total: eventIds.length });
    if (finished === eventIds.length) return { events, timedOut: false };
    if (Date.now() >= deadline) return { events, timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

function isFinished(event: EventWithRuns | undefined): boolean {
  return event !== undefined && event.runs.length > 0 && event.runs.every((run) => TERMINAL_STATUSES.has(run.status));
}
