/** `npm run rebuild-projections`: recomputes every projection from baton.events alone. */
import pg from "pg";
import { migrate, rebuildProjections, resolvePostgres } from "@baton/server";

const postgres = await resolvePostgres({ log: (m) => console.log(m) });
const pool = new pg.Pool({ connectionString: postgres.connectionString });
try {
  await migrate(postgres.connectionString);
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
