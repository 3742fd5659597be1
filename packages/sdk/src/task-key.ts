/**
 * Task keys and idempotency keys (v2 reference §2.5 step 3).
 */
import * as crypto from "node:crypto";

/** sha256 hex of a UTF-8 string: node's one-shot `crypto.hash` where there is one (node 20.12+), else a Hash object. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === "function" ? (text) => crypto.hash("sha256", text, "hex") : (text) => crypto.createHash("sha256").update(text).digest("hex");

/** A task's cache key: a string, or an array of parts (nested arrays are flattened; objects are stable-stringified). */
export type TaskKey = string | readonly unknown[];

/** JSON with object keys sorted recursively, so equal keys give equal text whatever their insertion order. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return `${value.toString()}n`;
    return JSON.stringify(value) ?? String(value);
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((item) => stableStringify(item)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}

/** The key's parts, nested arrays flattened (v2 `flattenCacheKey`). */
export function flattenKey(key: TaskKey): unknown[] {
  if (typeof key === "string") return [key];
  const out: unknown[] = [];
  const walk = (parts: readonly unknown[]): void => {
    for (const part of parts) {
      if (Array.isArray(part)) walk(part);
      else out.push(part);
    }
  };
  walk(key);
  return out;
}

/** Human-readable form of a key, used as `displayKey` and in error messages. */
export function displayKey(key: TaskKey): string {
  return flattenKey(key)
    .map((part) => (typeof part === "string" ? part : stableStringify(part)))
    .join(":");
}

/**
 * The task's idempotency key: sha256 hex of `[runId, parentId ?? "", ...flattenKey(key)]`, non-strings
 * stable-stringified, joined by `":"`. Scoped to the run and the parent task, stable across replays and retries.
 */
export function taskIdempotencyKey(runId: string, parentId: string | undefined, key: TaskKey): string {
  if (typeof key === "string") return sha256Hex(`${runId}:${parentId ?? ""}:${key}`);
  const parts = [runId, parentId ?? "", ...flattenKey(key)].map((part) =>
    typeof part === "string" ? part : stableStringify(part),
  );
  return sha256Hex(parts.join(":"));
}

/** `"a" > "b" > "c"`: a task's key path, root first. */
export function formatKeyPath(path: readonly string[]): string {
  return path.map((part) => JSON.stringify(part)).join(" > ");
}
