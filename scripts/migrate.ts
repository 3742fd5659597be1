/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded Postgres in .baton/pgdata). */
import { migrate, resolvePostgres } from "@baton/server";

const postgres = await resolvePostgres({ log: (m) => console.log(m) });
try {
  const { applied } = await migrate(postgres.connectionString);
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await postgres.stop();
}
