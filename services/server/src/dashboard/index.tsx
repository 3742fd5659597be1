import type { EventMetadata } from "@baton/core";
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CommandContext } from "../commands/context";
import { loadEventRecord, loadRun, loadTasks } from "../commands/load";
import { cancelRun, continueRun, rerunRun } from "../commands/runs";
import { ApiError } from "../errors";
import { hashApiKey, type Environment } from "../keys";
import { RUN_STATUSES, TERMINAL_RUN_STATUSES } from "../projections/rows";
import { JobsPage, LoginPage, RunPage, RunsPage } from "./pages";
import { dashboardJobs, dashboardRuns, runHistory, type RunsFilter } from "./queries";
import { SESSION_COOKIE, SESSION_MAX_AGE_S, signSession, verifySession } from "./session";

/** What the dashboard needs: the command context and the environments by sha256 of their key (as the API). */
export interface DashboardDeps {
  readonly ctx: CommandContext;
  readonly environmentsByKeyHash: ReadonlyMap<string, Environment>;
}

const PAGE_SIZE = 25;

/** A local path to go back to after login (never another origin). */
function safeNext(next: unknown): string {
  return typeof next === "string" && /^\/(?!\/)[\w\-/?=&%.]*$/.test(next) ? next : "/runs";
}

function parseTime(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  // datetime-local has no zone: the dashboard shows and takes UTC
  const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * The runs dashboard, server-rendered (hono JSX, no build step): `/login`, `/jobs`, `/runs`, `/runs/:id` (with
 * cancel / continue / rerun buttons and live updates). Every page needs a session from logging in with an
 * environment's API key; without one it redirects to `/login`. Actions call the same commands as the API, recorded
 * with the environment's key as the actor. Registers only its own paths, so `/api/*` auth and the JSON error
 * envelope of the API are untouched. Touches no dependency until a request arrives.
 */
export function createDashboard(deps: DashboardDeps): Hono {
  const app = new Hono();
  const environments = (): Iterable<Environment> => deps.environmentsByKeyHash.values();

  /** The logged-in environment, or undefined (then the caller redirects to the login page). */
  const session = (c: Context): Environment | undefined => verifySession(getCookie(c, SESSION_COOKIE), environments());
  const toLogin = (c: Context) => c.redirect(`/login?next=${encodeURIComponent(new URL(c.req.url).pathname + new URL(c.req.url).search)}`, 302);
  const envView = (env: Environment) => ({ slug: env.slug, keyHint: env.keyHint });
  const actor = (c: Context, env: Environment): EventMetadata => ({
    actor: { type: "api_key", environmentId: env.id, keyHint: env.keyHint },
    route: `dashboard ${c.req.method} ${c.req.routePath}`,
  });

  app.get("/", (c) => c.redirect(session(c) ? "/runs" : "/login", 302));

  app.get("/login", (c) => {
    if (session(c)) return c.redirect(safeNext(c.req.query("next")), 302);
    return c.html(<LoginPage next={c.req.query("next")} />);
  });
  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const key = typeof form.apiKey === "string" ? form.apiKey.trim() : "";
    const env = key ? deps.environmentsByKeyHash.get(hashApiKey(key)) : undefined;
    if (!env) return c.html(<LoginPage error="That API key is not valid for this server." next={safeNext(form.next)} />, 401);
    setCookie(c, SESSION_COOKIE, signSession(env), {
      httpOnly: true,
      sameSite: "Lax",
      path: "/",
      maxAge: SESSION_MAX_AGE_S,
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.redirect(safeNext(form.next), 303);
  });
  app.post("/logout", (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });

  app.get("/jobs", async (c) => {
    const env = session(c);
    if (!env) return toLogin(c);
    return c.html(<JobsPage env={envView(env)} jobs={await dashboardJobs(deps.ctx.pool, env.id)} />);
  });

  app.get("/runs", async (c) => {
    const env = session(c);
    if (!env) return toLogin(c);
    const status = c.req.query("status");
    const filter: RunsFilter = {
      jobId: c.req.query("job") || undefined,
      status: status && (RUN_STATUSES as readonly string[]).includes(status) ? status : undefined,
      from: parseTime(c.req.query("from")),
      to: parseTime(c.req.query("to")),
      cursor: c.req.query("cursor") || undefined,
      take: PAGE_SIZE,
    };
    const [page, jobs] = await Promise.all([
      dashboardRuns(deps.ctx.pool, env.id, filter),
      deps.ctx.pool.query<{ slug: string }>("select slug from baton.jobs where environment_id = $1 and not internal order by slug", [env.id]),
    ]);
    return c.html(<RunsPage env={envView(env)} runs={page.runs} nextCursor={page.nextCursor} jobs={jobs.rows.map((j) => j.slug)} filter={filter} />);
  });

  app.get("/runs/:runId", async (c) => {
    const env = session(c);
    if (!env) return toLogin(c);
    const run = await loadRun(deps.ctx.pool, c.req.param("runId"), env.id);
    if (!run) return c.html(<RunsPage env={envView(env)} runs={[]} jobs={[]} filter={{ take: PAGE_SIZE }} />, 404);
    const [tasks, record, history] = await Promise.all([
      loadTasks(deps.ctx.pool, run.id),
      loadEventRecord(deps.ctx.pool, run.event_record_id),
      runHistory(deps.ctx.pool, run.id),
    ]);
    return c.html(
      <RunPage
        env={envView(env)}
        run={run}
        tasks={tasks}
        record={record}
        history={history}
        notice={c.req.query("notice")}
        error={c.req.query("error")}
        now={new Date()}
      />,
    );
  });

  /** What the live-update script polls: the run's stream version changes with every event of the run. */
  app.get("/runs/:runId/version", async (c) => {
    const env = session(c);
    if (!env) return c.json({ error: { code: "unauthorized", message: "log in to the dashboard first" } }, 401);
    const run = await loadRun(deps.ctx.pool, c.req.param("runId"), env.id);
    if (!run) return c.json({ error: { code: "not_found", message: `run ${c.req.param("runId")} not found` } }, 404);
    return c.json({ version: run.version, status: run.status, terminal: TERMINAL_RUN_STATUSES.has(run.status) });
  });

  const action = (name: "cancel" | "continue" | "rerun") =>
    app.post(`/runs/:runId/${name}`, async (c) => {
      const env = session(c);
      if (!env) return toLogin(c);
      const runId = c.req.param("runId");
      try {
        if (name === "cancel") {
          await cancelRun(deps.ctx, env, runId, actor(c, env));
          return c.redirect(`/runs/${runId}?notice=${encodeURIComponent("Run canceled.")}`, 303);
        }
        if (name === "continue") {
          await continueRun(deps.ctx, env, runId, actor(c, env));
          return c.redirect(`/runs/${runId}?notice=${encodeURIComponent("Run continued: failed tasks run again.")}`, 303);
        }
        const fresh = await rerunRun(deps.ctx, env, runId, actor(c, env));
        return c.redirect(`/runs/${fresh.id}?notice=${encodeURIComponent(`Rerun of ${runId}.`)}`, 303);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        return c.redirect(`/runs/${runId}?error=${encodeURIComponent(error.message)}`, 303);
      }
    });
  action("cancel");
  action("continue");
  action("rerun");

  return app;
}
