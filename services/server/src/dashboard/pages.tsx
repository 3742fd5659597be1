import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { EventRecordRow, RunRow, TaskAttempt, TaskRow } from "../projections/rows";
import { RUN_STATUSES, TERMINAL_RUN_STATUSES } from "../projections/rows";
import { between, fmtDuration, fmtTime, Json, Layout, Status } from "./layout";
import type { HistoryEvent, JobWithRuns, RunsFilter } from "./queries";
import { redactPaths } from "./redact";

type SessionEnv = { slug: string; keyHint: string };

export function LoginPage(props: { error?: string | undefined; next?: string | undefined }) {
  return (
    <Layout title="Log in">
      <div class="login card">
        <h1>Baton dashboard</h1>
        <p class="muted">Log in with an environment's API key (<code>tr_dev_…</code> or <code>tr_prod_…</code>).</p>
        {props.error ? <div class="notice error">{props.error}</div> : null}
        <form method="post" action="/login">
          <label for="apiKey">API key</label>
          <input id="apiKey" name="apiKey" type="password" autocomplete="current-password" required autofocus />
          {props.next ? <input type="hidden" name="next" value={props.next} /> : null}
          <button class="act" type="submit">
            Log in
          </button>
        </form>
      </div>
    </Layout>
  );
}

function describeTrigger(trigger: unknown): string {
  const t = trigger as { type?: string; rule?: { event?: unknown; source?: string }; schedule?: { type?: string; options?: Record<string, unknown> } };
  switch (t?.type) {
    case "static":
      return `event ${Array.isArray(t.rule?.event) ? t.rule.event.join(", ") : String(t.rule?.event ?? "?")}${t.rule?.source && t.rule.source !== "trigger.dev" ? ` (${t.rule.source})` : ""}`;
    case "scheduled":
      return t.schedule?.type === "cron" ? `cron ${String(t.schedule.options?.cron ?? "")}` : `every ${String(t.schedule?.options?.seconds ?? "?")} s`;
    case "invoke":
      return "invoke";
    default:
      return JSON.stringify(trigger);
  }
}

export function JobsPage(props: { env: SessionEnv; jobs: readonly JobWithRuns[] }) {
  return (
    <Layout title="Jobs" env={props.env} active="jobs">
      <h1>Jobs</h1>
      <table>
        <thead>
          <tr>
            <th>Job</th>
            <th>Version</th>
            <th>Trigger</th>
            <th>Enabled</th>
            <th class="num">Runs</th>
            <th>Last runs</th>
          </tr>
        </thead>
        <tbody>
          {props.jobs.length === 0 ? (
            <tr>
              <td colspan={6} class="muted">
                No jobs yet: register an endpoint (its jobs are indexed).
              </td>
            </tr>
          ) : null}
          {props.jobs.map((j) => (
            <tr data-job={j.slug}>
              <td>
                <a href={`/runs?job=${encodeURIComponent(j.slug)}`}>
                  <strong>{j.slug}</strong>
                </a>
                <div class="muted">{j.name}</div>
              </td>
              <td class="mono">{j.current_version}</td>
              <td>{describeTrigger(j.trigger)}</td>
              <td>{j.enabled ? "yes" : <span class="badge s-CANCELED">disabled</span>}</td>
              <td class="num">{j.run_count}</td>
              <td>
                {j.last_runs.map((r) => (
                  <a href={`/runs/${r.id}`} title={`${r.id} · ${fmtTime(r.created_at)}`} style="margin-right:4px">
                    <Status status={r.status} />
                  </a>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

const toLocalInput = (d: Date | undefined): string => (d ? d.toISOString().slice(0, 16) : "");

export function RunsPage(props: { env: SessionEnv; runs: readonly RunRow[]; jobs: readonly string[]; filter: RunsFilter; nextCursor?: string | undefined }) {
  const f = props.filter;
  const params = (extra: Record<string, string>): string => {
    const q = new URLSearchParams();
    if (f.jobId) q.set("job", f.jobId);
    if (f.status) q.set("status", f.status);
    if (f.from) q.set("from", toLocalInput(f.from));
    if (f.to) q.set("to", toLocalInput(f.to));
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q.toString();
  };
  return (
    <Layout title="Runs" env={props.env} active="runs">
      <h1>Runs</h1>
      <form class="filters" method="get" action="/runs">
        <label>
          Job
          <select name="job">
            <option value="">all jobs</option>
            {props.jobs.map((j) => (
              <option value={j} selected={f.jobId === j}>
                {j}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status">
            <option value="">any status</option>
            {RUN_STATUSES.map((s) => (
              <option value={s} selected={f.status === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created from (UTC)
          <input type="datetime-local" name="from" value={toLocalInput(f.from)} />
        </label>
        <label>
          to (UTC)
          <input type="datetime-local" name="to" value={toLocalInput(f.to)} />
        </label>
        <button class="act" type="submit">
          Filter
        </button>
        <a href="/runs">reset</a>
      </form>
      <table id="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Job</th>
            <th>Status</th>
            <th>Created</th>
            <th>Started</th>
            <th>Completed</th>
            <th class="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {props.runs.length === 0 ? (
            <tr>
              <td colspan={7} class="muted">
                No runs match.
              </td>
            </tr>
          ) : null}
          {props.runs.map((r) => (
            <tr data-run={r.id}>
              <td class="mono">
                <a href={`/runs/${r.id}`}>{r.id}</a>
                {r.is_test ? <span class="badge">test</span> : null}
              </td>
              <td>
                {r.job_slug} <span class="muted mono">@{r.job_version}</span>
              </td>
              <td>
                <Status status={r.status} />
              </td>
              <td class="mono">{fmtTime(r.created_at)}</td>
              <td class="mono">{fmtTime(r.started_at)}</td>
              <td class="mono">{fmtTime(r.completed_at)}</td>
              <td class="num">{fmtDuration(between(r.started_at ?? r.created_at, r.completed_at))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        {f.cursor ? <a href={`/runs?${params({})}`}>« newest</a> : null}
        {props.nextCursor ? <a href={`/runs?${params({ cursor: props.nextCursor })}`}>older »</a> : null}
      </div>
    </Layout>
  );
}

function parseOutput(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

interface StoredErrorView {
  message?: string;
  name?: string;
  stack?: string;
  issues?: unknown;
}

function ErrorBox(props: { error: unknown }) {
  const e = (props.error ?? {}) as StoredErrorView;
  return (
    <div class="notice error error-box">
      <strong>{e.name ?? "Error"}</strong>: {e.message ?? JSON.stringify(props.error)}
      {e.stack ? <pre>{e.stack}</pre> : null}
      {e.issues ? <Json value={e.issues} /> : null}
    </div>
  );
}

function Properties(props: { title: string; value: unknown }) {
  const list = Array.isArray(props.value) ? (props.value as Array<{ label?: string; text?: string; url?: string }>) : [];
  if (list.length === 0) return null;
  return (
    <div>
      <div class="muted">{props.title}</div>
      <table class="props">
        <tbody>
          {list.map((p) => (
            <tr>
              <th style="width:180px">{p.label ?? ""}</th>
              <td>{p.url ? <a href={p.url}>{p.text ?? p.url}</a> : (p.text ?? "")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Retries(props: { attempts: readonly TaskAttempt[] }) {
  return (
    <div>
      <div class="muted">Attempts</div>
      <table class="retries">
        <thead>
          <tr>
            <th class="num">#</th>
            <th>Status</th>
            <th>Scheduled for</th>
            <th>Started</th>
            <th>Ended</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {props.attempts.map((a) => (
            <tr>
              <td class="num">{a.number}</td>
              <td>
                <Status status={a.status} />
              </td>
              <td class="mono">{fmtTime(a.runAt)}</td>
              <td class="mono">{fmtTime(a.startedAt)}</td>
              <td class="mono">{fmtTime(a.completedAt)}</td>
              <td>{a.error ? ((a.error as StoredErrorView).message ?? JSON.stringify(a.error)) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function LogLine(props: { task: TaskRow }) {
  const t = props.task;
  const level = ((t.properties as Array<{ text?: string }> | null)?.[0]?.text ?? "INFO").toUpperCase();
  return (
    <div class={`log l-${level}`} data-task={t.id} data-kind="log">
      <span class="lvl">{level}</span>
      {t.description ?? ""}
      <span class="muted mono" style="margin-left:10px">
        {fmtTime(t.created_at)}
      </span>
      {t.params !== null && t.params !== undefined ? <Json value={t.params} /> : null}
    </div>
  );
}

function TaskNode(props: { task: TaskRow; subtasks: readonly TaskRow[]; byParent: ReadonlyMap<string | null, TaskRow[]>; now: Date }) {
  const t = props.task;
  if (t.name === "log" && t.noop) return <LogLine task={t} />;
  const isWait = t.delay_until !== null && t.noop;
  const output = t.status === "COMPLETED" ? redactPaths(parseOutput(t.output), t.redact) : undefined;
  const attempts = t.attempt_log ?? [];
  const duration = between(t.started_at ?? t.created_at, t.completed_at);
  return (
    <details class="task" open data-task={t.id} data-name={t.name} data-status={t.status}>
      <summary>
        <Status status={t.status} />
        <strong>{t.name}</strong>
        {t.display_key ? <span class="mono">{t.display_key}</span> : null}
        {isWait ? (
          <span class="muted wait-until">
            {t.status === "WAITING" ? "continues at " : "waited until "}
            <span class="mono">{fmtTime(t.delay_until)}</span>
            {t.status === "WAITING" && t.delay_until ? ` (in ${fmtDuration(t.delay_until.getTime() - props.now.getTime())})` : ""}
          </span>
        ) : null}
        {t.attempts > 1 ? <span class="badge">{`${t.attempts} attempts`}</span> : null}
        <span class="right muted">{fmtDuration(duration)}</span>
      </summary>
      <div class="body">
        <div class="grid kv">
          <dl>
            <dt>Started</dt>
            <dd class="mono">{fmtTime(t.started_at ?? t.created_at)}</dd>
          </dl>
          <dl>
            <dt>Completed</dt>
            <dd class="mono">{fmtTime(t.completed_at)}</dd>
          </dl>
          <dl>
            <dt>Idempotency key</dt>
            <dd class="mono">{t.idempotency_key}</dd>
          </dl>
        </div>
        {t.description ? <p>{t.description}</p> : null}
        <Properties title="Properties" value={t.properties} />
        <Properties title="Output properties" value={t.output_properties} />
        {t.params !== null && t.params !== undefined ? (
          <div>
            <div class="muted">Input</div>
            <Json value={t.params} />
          </div>
        ) : null}
        {output !== undefined ? (
          <div class="task-output">
            <div class="muted">Output</div>
            <Json value={output} />
          </div>
        ) : null}
        {t.error ? <ErrorBox error={t.error} /> : null}
        {attempts.length > 1 || t.retry ? <Retries attempts={attempts} /> : null}
        {props.subtasks.length ? (
          <div class="subtasks">
            {props.subtasks.map((c) => (
              <TaskNode task={c} subtasks={props.byParent.get(c.id) ?? []} byParent={props.byParent} now={props.now} />
            ))}
          </div>
        ) : null}
      </div>
    </details>
  );
}

/** The task tree: roots in creation order, subtasks nested and collapsible, logs inline where they were written. */
export function TaskTree(props: { tasks: readonly TaskRow[]; now: Date }) {
  const sorted = [...props.tasks].sort((a, b) => a.seq - b.seq);
  const ids = new Set(sorted.map((t) => t.id));
  const byParent = new Map<string | null, TaskRow[]>();
  for (const t of sorted) {
    const parent = t.parent_id && ids.has(t.parent_id) ? t.parent_id : null;
    byParent.set(parent, [...(byParent.get(parent) ?? []), t]);
  }
  const roots = byParent.get(null) ?? [];
  if (roots.length === 0) return <p class="muted">No tasks yet.</p>;
  return (
    <div id="tasks">
      {roots.map((t) => (
        <TaskNode task={t} subtasks={byParent.get(t.id) ?? []} byParent={byParent} now={props.now} />
      ))}
    </div>
  );
}

const actorOf = (metadata: Record<string, unknown>): string => {
  const a = metadata.actor as { type?: string; keyHint?: string; id?: string; reason?: string } | undefined;
  if (!a) return "";
  return a.type === "api_key" ? `key ${a.keyHint ?? ""}` : a.type === "worker" ? `worker ${a.id ?? ""}` : (a.type ?? "");
};

/** An event's data as shown in the history: task outputs with the task's `redact.paths` masked, as in the tree. */
function shownData(e: HistoryEvent, tasks: ReadonlyMap<string, TaskRow>): unknown {
  const data = e.data as { taskId?: string; output?: unknown } | null;
  const task = data?.taskId ? tasks.get(data.taskId) : undefined;
  if (e.type !== "task.completed" || !task?.redact || typeof data?.output !== "string") return e.data;
  return { ...data, output: JSON.stringify(redactPaths(parseOutput(data.output), task.redact)) };
}

function History(props: { events: readonly HistoryEvent[]; tasks: readonly TaskRow[] }) {
  const tasks = new Map(props.tasks.map((t) => [t.id, t]));
  return (
    <table id="history">
      <thead>
        <tr>
          <th class="num">Position</th>
          <th class="num">v</th>
          <th>Type</th>
          <th>Time</th>
          <th>Actor</th>
          <th>Data</th>
        </tr>
      </thead>
      <tbody>
        {props.events.map((e) => {
          const data = shownData(e, tasks);
          return (
          <tr data-type={e.type}>
            <td class="num mono">{e.position}</td>
            <td class="num mono">{e.version}</td>
            <td class="mono">{e.type}</td>
            <td class="mono">{fmtTime(e.occurred_at)}</td>
            <td class="mono">{actorOf(e.metadata)}</td>
            <td>
              <details>
                <summary class="mono">{JSON.stringify(data).slice(0, 90)}</summary>
                <Json value={{ data, metadata: e.metadata }} />
              </details>
            </td>
          </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** The live part of the run page (re-rendered and swapped in by the polling script while the run is active). */
export function RunLive(props: { run: RunRow; tasks: readonly TaskRow[]; record: EventRecordRow | undefined; history: readonly HistoryEvent[]; now: Date }) {
  const { run, record } = props;
  const terminal = TERMINAL_RUN_STATUSES.has(run.status);
  return (
    <div id="live" data-version={String(run.version)} data-terminal={terminal ? "1" : "0"}>
      <div class="card">
        <div style="display:flex;gap:12px;align-items:center">
          <span id="run-status">
            <Status status={run.status} />
          </span>
          <span>
            <strong>{run.job_slug}</strong> <span class="mono muted">@{run.job_version}</span>
          </span>
          {run.is_retry ? <span class="badge">retry</span> : null}
          {!terminal ? <span class="muted right">live · updates automatically</span> : null}
        </div>
        <div class="actions">
          {!terminal ? (
            <form method="post" action={`/runs/${run.id}/cancel`}>
              <button class="act danger" type="submit" id="cancel">
                Cancel run
              </button>
            </form>
          ) : null}
          {run.status === "FAILURE" || run.status === "TIMED_OUT" || run.status === "CANCELED" ? (
            <form method="post" action={`/runs/${run.id}/continue`}>
              <button class="act" type="submit" id="continue">
                Continue (retry failed tasks)
              </button>
            </form>
          ) : null}
          <form method="post" action={`/runs/${run.id}/rerun`}>
            <button class="act" type="submit" id="rerun">
              Rerun
            </button>
          </form>
        </div>
        <div class="grid kv">
          <dl>
            <dt>Created</dt>
            <dd class="mono">{fmtTime(run.created_at)}</dd>
          </dl>
          <dl>
            <dt>Started</dt>
            <dd class="mono">{fmtTime(run.started_at)}</dd>
          </dl>
          <dl>
            <dt>Completed</dt>
            <dd class="mono">{fmtTime(run.completed_at)}</dd>
          </dl>
          <dl>
            <dt>Duration</dt>
            <dd>{fmtDuration(between(run.started_at ?? run.created_at, run.completed_at ?? (terminal ? null : props.now)))}</dd>
          </dl>
          <dl>
            <dt>Execution time</dt>
            <dd>{`${fmtDuration(run.execution_duration_ms)} in ${run.execution_count} execution${run.execution_count === 1 ? "" : "s"}`}</dd>
          </dl>
          {run.resume_at ? (
            <dl>
              <dt>Continues at</dt>
              <dd class="mono">{fmtTime(run.resume_at)}</dd>
            </dl>
          ) : null}
        </div>
      </div>

      {run.status === "SUCCESS" ? (
        <section>
          <h2>Output</h2>
          <div id="run-output">
            <Json value={parseOutput(run.output)} />
          </div>
        </section>
      ) : null}
      {run.error ? (
        <section>
          <h2>Error</h2>
          <ErrorBox error={run.error} />
        </section>
      ) : null}

      <h2>Trigger event</h2>
      {record ? (
        <div class="card" id="trigger-event">
          <div class="grid kv">
            <dl>
              <dt>Event id</dt>
              <dd class="mono">{record.event_id}</dd>
            </dl>
            <dl>
              <dt>Name</dt>
              <dd class="mono">{record.name}</dd>
            </dl>
            <dl>
              <dt>Source</dt>
              <dd class="mono">{record.source}</dd>
            </dl>
            <dl>
              <dt>Timestamp</dt>
              <dd class="mono">{fmtTime(record.timestamp)}</dd>
            </dl>
          </div>
          <div class="muted">Payload</div>
          <Json value={record.payload} />
          <div class="muted">Context</div>
          <Json value={record.context} />
        </div>
      ) : (
        <p class="muted">The event record is missing.</p>
      )}

      <h2>Tasks</h2>
      <TaskTree tasks={props.tasks} now={props.now} />

      <h2>Event history</h2>
      <History events={props.history} tasks={props.tasks} />
    </div>
  );
}

// Polls the run's version while it is active; on a change it swaps #live for the fresh render, keeping closed
// <details> closed.
const LIVE_SCRIPT = `
(function () {
  var live = document.getElementById("live");
  if (!live || live.dataset.terminal === "1") return;
  var runId = document.body.dataset.run;
  function tick() {
    fetch("/runs/" + runId + "/version", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (v) {
      var current = document.getElementById("live");
      if (String(v.version) === current.dataset.version) return setTimeout(tick, 1000);
      return fetch(location.pathname, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (!next) return;
        var closed = {};
        current.querySelectorAll("details[data-task]:not([open])").forEach(function (d) { closed[d.dataset.task] = 1; });
        next.querySelectorAll("details[data-task]").forEach(function (d) { if (closed[d.dataset.task]) d.removeAttribute("open"); });
        current.replaceWith(next);
        if (next.dataset.terminal !== "1") setTimeout(tick, 1000);
      });
    }).catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();
`;

export function RunPage(props: {
  env: SessionEnv;
  run: RunRow;
  tasks: readonly TaskRow[];
  record: EventRecordRow | undefined;
  history: readonly HistoryEvent[];
  notice?: string | undefined;
  error?: string | undefined;
  now: Date;
}): Child {
  return (
    <Layout title={`Run ${props.run.id}`} env={props.env} active="runs">
      <div data-run-page={props.run.id}>
        <p class="muted">
          <a href="/runs">Runs</a> / <a href={`/runs?job=${encodeURIComponent(props.run.job_slug)}`}>{props.run.job_slug}</a> /
        </p>
        <h1 class="mono">{props.run.id}</h1>
        {props.notice ? <div class="notice">{props.notice}</div> : null}
        {props.error ? <div class="notice error">{props.error}</div> : null}
        <RunLive run={props.run} tasks={props.tasks} record={props.record} history={props.history} now={props.now} />
      </div>
      <script>{raw(`document.body.dataset.run = ${JSON.stringify(props.run.id)};${LIVE_SCRIPT}`)}</script>
    </Layout>
  );
}
