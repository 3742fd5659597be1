/**
 * `npm run rebuild-projections`: recomputes every projection from baton.events alone. Run it with the servers
 * stopped: a server writing while the tables are replaced would lose its writes from the projections (never from the
 * events). It refuses while a server heartbeats in baton.workers, unless `-- --force`.
 */
import pg from "pg";
import { migrate, rebuildProjections, resolvePostgres } from "@baton/server";

const postgres = await resolvePostgres({ log: (m) => console.log(m) });
const pool = new pg.Pool({ connectionString: postgres.connectionString });
try {
  await migrate(postgres.connectionString);
  const { rows } = await pool.query<{ n: number }>(
    "select count(*)::int as n from baton.workers where heartbeat_at > now() - interval '10 seconds'",
  );
  if ((rows[0]?.n ?? 0) > 0 && !process.argv.includes("--force")) {
    throw new Error(
      `${rows[0]!.n} Baton server process(es) are running against this database; stop them first (or pass -- --force)`,
    );
  }
  const started = performance.now();
  const result = await rebuildProjections(pool);
  console.log(
    `rebuilt from ${result.events} events in ${Math.round(performance.now() - started)} ms: ` +
      Object.entries(result.rows).map(([t, n]) => `${t} ${n}`).join(", "),
  );
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await pool.end();
  await postgres.stop();
}
