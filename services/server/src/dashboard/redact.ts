/** What a redacted value is replaced with. */
export const REDACTED = "[REDACTED]";

/**
 * A copy of `value` with every dotted path of `redact.paths` (v2's `redact: { paths: ["data.secret", ...] }`;
 * array indexes are path segments too) replaced by {@link REDACTED}. Paths that do not exist are ignored.
 */
export function redactPaths(value: unknown, redact: unknown): unknown {
  const paths = (redact as { paths?: unknown } | null | undefined)?.paths;
  if (!Array.isArray(paths) || paths.length === 0 || value === null || typeof value !== "object") return value;
  const copy = structuredClone(value) as Record<string, unknown>;
  for (const path of paths) {
    if (typeof path !== "string" || !path) continue;
    const parts = path.split(".");
    let node: unknown = copy;
    for (let i = 0; i < parts.length - 1 && node !== null && typeof node === "object"; i++) {
      node = (node as Record<string, unknown>)[parts[i]!];
    }
    const last = parts[parts.length - 1]!;
    if (node !== null && typeof node === "object" && last in node) (node as Record<string, unknown>)[last] = REDACTED;
  }
  return copy;
}
