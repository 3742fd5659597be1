import type { Child } from "hono/jsx";
import { raw } from "hono/html";

const CSS = `
:root { --fg:#1d232b; --muted:#667085; --line:#e4e7ec; --bg:#f8f9fb; --accent:#3b5bdb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; gap:20px; align-items:center; padding:10px 24px; background:#111827; color:#fff; }
header.top a { color:#d0d7e2; text-decoration:none; } header.top a.on, header.top a:hover { color:#fff; }
header.top .brand { font-weight:700; color:#fff; margin-right:12px; } header.top .who { margin-left:auto; color:#9aa4b2; }
header.top form { margin:0; } header.top button { background:none; border:1px solid #4b5563; color:#d0d7e2; border-radius:4px; padding:2px 8px; cursor:pointer; }
main { max-width:1180px; margin:0 auto; padding:20px 24px 60px; }
h1 { font-size:20px; margin:4px 0 14px; } h2 { font-size:15px; margin:26px 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
a { color:var(--accent); }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f2f4f7; font-weight:600; font-size:12px; color:#475467; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
pre { margin:4px 0; padding:8px 10px; background:#0f172a; color:#e2e8f0; border-radius:6px; overflow:auto; max-height:360px; font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace; }
code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:11px; font-weight:700; letter-spacing:.03em; background:#e4e7ec; color:#344054; }
.s-SUCCESS, .s-COMPLETED { background:#d3f9d8; color:#2b8a3e; }
.s-FAILURE, .s-ERRORED, .s-TIMED_OUT, .s-INVALID_PAYLOAD { background:#ffe3e3; color:#c92a2a; }
.s-CANCELED { background:#f1f3f5; color:#495057; }
.s-EXECUTING, .s-RUNNING { background:#dbe4ff; color:#364fc7; }
.s-WAITING_TO_CONTINUE, .s-WAITING_TO_EXECUTE, .s-WAITING, .s-QUEUED, .s-PENDING { background:#fff3bf; color:#a86200; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
.grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap:8px 20px; }
.kv dt { color:var(--muted); font-size:12px; } .kv dd { margin:0 0 6px; }
.actions { display:flex; gap:8px; margin:8px 0 4px; } .actions form { margin:0; }
button.act { border:1px solid var(--line); background:#fff; border-radius:6px; padding:5px 12px; cursor:pointer; font-weight:600; }
button.act.danger { color:#c92a2a; border-color:#ffc9c9; } button.act:hover { background:#f2f4f7; }
.notice { padding:8px 12px; border-radius:6px; margin:8px 0; background:#e7f5ff; } .notice.error { background:#ffe3e3; }
details.task { background:#fff; border:1px solid var(--line); border-radius:6px; margin:6px 0; }
details.task > summary { padding:6px 10px; cursor:pointer; display:flex; gap:10px; align-items:center; list-style:none; }
details.task > summary::-webkit-details-marker { display:none; }
details.task > summary::before { content:"▸"; color:var(--muted); } details.task[open] > summary::before { content:"▾"; }
details.task > .body { padding:4px 12px 10px 26px; border-top:1px solid var(--line); }
.subtasks { margin-left:4px; padding-left:12px; border-left:2px solid var(--line); }
.log { padding:4px 10px; margin:4px 0; border-left:3px solid #adb5bd; background:#fff; font-size:13px; }
.log .lvl { font-weight:700; font-size:11px; margin-right:8px; }
.log.l-WARN { border-color:#f59f00; } .log.l-ERROR { border-color:#e03131; } .log.l-DEBUG { border-color:#ced4da; color:#555; }
.muted { color:var(--muted); } .right { margin-left:auto; }
form.filters { display:flex; gap:10px; align-items:end; flex-wrap:wrap; margin-bottom:12px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select { padding:5px 8px; border:1px solid #cfd4dc; border-radius:6px; font:inherit; }
.login { max-width:420px; margin:80px auto; }
.login input { width:100%; margin:6px 0 12px; }
.pager { margin-top:10px; display:flex; gap:16px; }
#history { table-layout:fixed; } #history td { overflow-wrap:anywhere; }
#history th:nth-child(1) { width:80px; } #history th:nth-child(2) { width:40px; } #history th:nth-child(3) { width:150px; }
#history th:nth-child(4) { width:190px; } #history th:nth-child(5) { width:200px; }
`;

/** The page frame: top navigation (when logged in) and the content. */
export function Layout(props: { title: string; env?: { slug: string; keyHint: string } | undefined; active?: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Baton`}</title>
        <style>{raw(CSS)}</style>
      </head>
      <body>
        {props.env ? (
          <header class="top">
            <span class="brand">Baton</span>
            <a href="/runs" class={props.active === "runs" ? "on" : ""}>
              Runs
            </a>
            <a href="/jobs" class={props.active === "jobs" ? "on" : ""}>
              Jobs
            </a>
            <span class="who">
              {props.env.slug} · <span class="mono">{props.env.keyHint}</span>
            </span>
            <form method="post" action="/logout">
              <button type="submit">Log out</button>
            </form>
          </header>
        ) : null}
        <main>{props.children}</main>
      </body>
    </html>
  );
}

/** A status as a colored badge. */
export function Status(props: { status: string }) {
  return <span class={`badge s-${props.status}`} data-status={props.status}>{props.status}</span>;
}

/** `2026-01-02 03:04:05.678Z`, or an em dash. */
export function fmtTime(d: Date | string | null | undefined): string {
  if (!d) return "—";
  const date = typeof d === "string" ? new Date(d) : d;
  return Number.isNaN(date.getTime()) ? "—" : date.toISOString().replace("T", " ");
}

/** A duration in ms as `850 ms`, `12.3 s`, `4 m 05 s`, `3 h 00 m`. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

/** Milliseconds between two times, or null when either is missing. */
export function between(a: Date | string | null | undefined, b: Date | string | null | undefined): number | null {
  if (!a || !b) return null;
  return new Date(b).getTime() - new Date(a).getTime();
}

/** Pretty JSON in a `<pre>`. */
export function Json(props: { value: unknown }) {
  return <pre>{props.value === undefined ? "undefined" : JSON.stringify(props.value, null, 2)}</pre>;
}
