import { createHash, randomBytes } from "node:crypto";

/** A 16-hex-digit span id derived from a stable name (`run:<id>`, `task:<id>`, ...): re-exporting gives the same id. */
export function spanIdOf(name: string): string {
  return nonZero(createHash("sha256").update(`baton-span:${name}`).digest("hex").slice(0, 16));
}

/** The 32-hex-digit trace id of a run that has no ingesting trace context: derived from the run id. */
export function traceIdOf(runId: string): string {
  return nonZero(createHash("sha256").update(`baton-trace:${runId}`).digest("hex").slice(0, 32));
}

function nonZero(hex: string): string {
  // an all-zero id is invalid in W3C trace context
  return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex;
}

/** The ids the next `startSpan` should take, set by the trace exporter right before it starts each span. */
const primed: { traceId?: string | undefined; spanId?: string | undefined } = {};

/** Sets the ids the next span started (synchronously) by an SDK using {@link DeterministicIdGenerator} gets. */
export function primeIds(spanId: string, traceId?: string): void {
  primed.spanId = spanId;
  primed.traceId = traceId;
}

/**
 * An OTel SDK `IdGenerator` (structurally: this module depends on `@opentelemetry/api` only) that hands out the ids
 * primed by {@link primeIds} once, and random ids otherwise. Give it to the tracer provider the trace exporter uses
 * (`new BasicTracerProvider({ idGenerator: new DeterministicIdGenerator() })`) so that a run exported twice has the
 * same span ids. The SDK asks for ids synchronously inside `startSpan`, so priming right before it is race-free.
 */
export class DeterministicIdGenerator {
  generateTraceId(): string {
    const id = primed.traceId;
    primed.traceId = undefined;
    return id ?? randomBytes(16).toString("hex");
  }
  generateSpanId(): string {
    const id = primed.spanId;
    primed.spanId = undefined;
    return id ?? randomBytes(8).toString("hex");
  }
}
