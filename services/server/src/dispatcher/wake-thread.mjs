// @ts-check
/**
 * The wake-up thread of a Baton dispatcher (started by `waker.ts`). The main thread prepares, ahead of time,
 * the one statement that ends a run's wait; this thread holds the timer and commits that statement on connections
 * of its own the moment the wait is due, so waits end on time even while the main event loop is saturated (its
 * timers then fire hundreds of ms late). Plain JavaScript and `pg` only: no TypeScript loader runs in this thread.
 *
 * The statement's text and parameters are fixed; every value that depends on the time of the resumption is the
 * `placeholder` timestamp, replaced here by the real time at which it is committed. Each event insert expects the
 * run's stream version, so a run that changed meanwhile fails the statement whole (nothing is written).
 *
 * In:  {type: "arm", runId, token, at (epoch ms), textId, sql (the first time a textId is sent), params, placeholder}
 *      | {type: "disarm", runId} | {type: "stop"}
 * Out: {type: "ready"} | {type: "fired", results: [{runId, token, outcome: "resumed" | "conflict" | "error", at, message?}]}
 * (`at`: the commit time used, epoch ms)
 */
import { clearTimeout, setImmediate, setTimeout } from "node:timers";
import { parentPort, workerData } from "node:worker_threads";
import pg from "pg";

const port = parentPort;
if (!port) throw new Error("wake-thread.mjs runs as a worker thread");

/** @type {pg.ClientConfig} */
const connection = workerData.connection;

/**
 * Connections of this thread: a few, so a statement that comes due while another is committing (a commit waits for
 * its WAL flush, several ms under load) goes out at once instead of queueing behind it.
 */
const CONNECTIONS = 3;
// kept open while the thread runs (it stops after a while without waits): opening one costs a few ms of this thread
const pool = new pg.Pool({ ...connection, max: CONNECTIONS, idleTimeoutMillis: 0 });
// a connection that breaks while idle is replaced on demand; the error must not end the thread
pool.on("error", () => undefined);
let stopped = false;
let warming = false;

/** Opens the connections (again, after a failure) ahead of the waits due. */
function warmConnections() {
  if (warming || pool.totalCount >= CONNECTIONS) return;
  warming = true;
  void Promise.all(Array.from({ length: CONNECTIONS - pool.totalCount }, () => pool.connect().catch(() => undefined))).then((clients) => {
    for (const c of clients) c?.release();
    warming = false;
  });
}

/**
 * @typedef {{ runId: string, token: number, at: number, sql: string, params: unknown[], placeholder: string,
 *   timer?: NodeJS.Timeout }} Armed
 */
/** @type {Map<string, Armed>} */
const armed = new Map();
/**
 * The armed entries by due instant: entries due at the same instant are committed together. Their timers need not
 * fire in the same tick (two timers set a millisecond apart may not), so the first one due takes the others along.
 * @type {Map<number, Set<Armed>>}
 */
const byInstant = new Map();

/** @param {Armed} entry */
function track(entry) {
  armed.set(entry.runId, entry);
  let same = byInstant.get(entry.at);
  if (!same) byInstant.set(entry.at, (same = new Set()));
  same.add(entry);
}

/** @param {Armed} entry */
function untrack(entry) {
  if (entry.timer) clearTimeout(entry.timer);
  if (armed.get(entry.runId) === entry) armed.delete(entry.runId);
  const same = byInstant.get(entry.at);
  if (same?.delete(entry) && same.size === 0) byInstant.delete(entry.at);
}
/** Statement texts by id (sent once each). @type {Map<number, string>} */
const texts = new Map();
/** @type {Armed[]} */
let firing = [];
let flushScheduled = false;

/** Prepared statement names by text (the resume statements of all runs share a few shapes). */
const names = new Map();
/** @param {string} sql */
function nameOf(sql) {
  let name = names.get(sql);
  if (!name) {
    name = `baton_wake_${names.size}`;
    names.set(sql, name);
  }
  return name;
}

/** @param {Armed} entry */
function fire(entry) {
  if (armed.get(entry.runId) !== entry) return;
  const early = entry.at - Date.now();
  if (early > 0) {
    // a timer may fire a millisecond early: never resume before the due time
    entry.timer = setTimeout(() => fire(entry), early);
    return;
  }
  // this entry and every other due at the same instant (so at or before now): one flush, one statement
  // (an armed entry is always in byInstant)
  for (const due of [.../** @type {Set<Armed>} */ (byInstant.get(entry.at))]) {
    untrack(due);
    firing.push(due);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(() => void flush());
  }
}

/** Most statements combined into one. */
const MAX_COMBINED = 64;

/**
 * The statements of several runs with the same text as one: each parameter is a JSON array of records (events,
 * projection rows; see `buildStatement`), so their arrays are concatenated, as text. The events keep their `i` (their
 * order within their own run's statement), so each run's events are still inserted in order. One transaction: if it
 * fails, none is written.
 * @param {Armed[]} entries
 * @param {string} iso the commit time
 */
function combined(entries, iso) {
  const values = entries[0].params.map((_, i) => {
    const items = entries.map((e) => String(e.params[i]).split(e.placeholder).join(iso).trim().slice(1, -1).trim()).filter((x) => x.length);
    return `[${items.join(",")}]`;
  });
  return { name: nameOf(entries[0].sql), text: entries[0].sql, values };
}

/**
 * Commits the resumptions that came due, those with the same text combined into one statement; a combined statement
 * that fails is retried one run at a time, so each succeeds or fails on its own. The commit time of each is the moment
 * its statement is sent. Passes run concurrently, on the thread's connections.
 */
async function flush() {
  flushScheduled = false;
  const batch = firing;
  firing = [];
  if (!batch.length) return;
  /** @type {Array<{ runId: string, token: number, outcome: string, at: number, message?: string }>} */
  const results = [];
  /** @param {Armed} e */
  const alone = async (e) => {
    const now = new Date();
    const values = e.params.map((p) => String(p).split(e.placeholder).join(now.toISOString()));
    try {
      await pool.query({ name: nameOf(e.sql), text: e.sql, values });
      results.push({ runId: e.runId, token: e.token, outcome: "resumed", at: now.getTime() });
    } catch (error) {
      const pgError = /** @type {{ code?: string, constraint?: string, message?: string }} */ (error);
      const conflict = pgError.code === "23505" && pgError.constraint === "events_stream_version_key";
      results.push({ runId: e.runId, token: e.token, outcome: conflict ? "conflict" : "error", at: now.getTime(), message: pgError.message });
    }
  };
  /** @type {Map<string, Armed[]>} */
  const byText = new Map();
  for (const e of batch) byText.set(e.sql, [...(byText.get(e.sql) ?? []), e]);
  const chunks = [...byText.values()].flatMap((group) => Array.from({ length: Math.ceil(group.length / MAX_COMBINED) }, (_, k) => group.slice(k * MAX_COMBINED, (k + 1) * MAX_COMBINED)));
  await Promise.all(
    chunks.map(async (chunk) => {
      if (chunk.length === 1) return await alone(chunk[0]);
      const now = new Date();
      try {
        await pool.query(combined(chunk, now.toISOString()));
        for (const e of chunk) results.push({ runId: e.runId, token: e.token, outcome: "resumed", at: now.getTime() });
      } catch {
        for (const e of chunk) await alone(e);
      }
    }),
  );
  if (!stopped) port?.postMessage({ type: "fired", results });
}

port.on("message", (/** @type {any} */ m) => {
  if (stopped) return;
  switch (m.type) {
    case "arm": {
      const previous = armed.get(m.runId);
      if (previous) untrack(previous);
      if (m.sql !== undefined) texts.set(m.textId, m.sql);
      /** @type {Armed} */
      const entry = { runId: m.runId, token: m.token, at: m.at, sql: texts.get(m.textId) ?? "", params: m.params, placeholder: m.placeholder };
      track(entry);
      entry.timer = setTimeout(() => fire(entry), Math.max(0, m.at - Date.now()));
      warmConnections();
      break;
    }
    case "disarm": {
      const entry = armed.get(m.runId);
      if (entry) untrack(entry);
      break;
    }
    case "stop": {
      stopped = true;
      for (const e of armed.values()) if (e.timer) clearTimeout(e.timer);
      armed.clear();
      byInstant.clear();
      void pool
        .end()
        .catch(() => undefined)
        .then(() => port.close());
      break;
    }
  }
});
port.postMessage({ type: "ready" });
warmConnections();
