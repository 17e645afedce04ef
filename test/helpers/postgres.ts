/**
 * The machine's PostgreSQL for tests: `SWITCHBOARD_TEST_PG_URL` (default the local server, trust auth, database
 * `test`). Suites that need it ask `postgresSkipReason()` first and are skipped with that reason when it is not there.
 */
import pg from 'pg';

export const PG_TEST_URL = process.env['SWITCHBOARD_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL tests must be skipped, or undefined when the server answers. */
export async function postgresSkipReason(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL not reachable at ${PG_TEST_URL} (set SWITCHBOARD_TEST_PG_URL): ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops the schemas tests created (and everything in them). */
export async function dropTestSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_TEST_URL });
  await admin.connect();
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}
