/**
 * The machine's PostgreSQL for tests: `SWITCHBOARD_TEST_PG_URL` (default the local server, trust auth, database
 * `test`). Suites that need it ask `postgresSkipReason()` first and are skipped with that reason when it is not there.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import type { Config } from '../../src/config/index.js';
import type { DeepPartial } from './in-process-server.js';

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

/** One platform store a server test runs on; `config` is merged into the server's (a fresh schema each call). */
export interface ServerStore {
  name: 'SQLite' | 'PostgreSQL';
  /** Why the store's suite is skipped; undefined when it runs. */
  skip: string | undefined;
  config: () => DeepPartial<Config>;
}

/**
 * The embedded SQLite store and the machine's PostgreSQL, for a test file that runs its servers on both. Every
 * PostgreSQL server gets its own schema `<schemaPrefix>_<random>`; they are dropped after the file's tests.
 */
export async function serverStores(schemaPrefix: string): Promise<ServerStore[]> {
  const skip = await postgresSkipReason();
  const schemas: string[] = [];
  after(() => dropTestSchemas(schemas));
  return [
    { name: 'SQLite', skip: undefined, config: () => ({}) },
    {
      name: 'PostgreSQL',
      skip,
      config: () => {
        const schema = `${schemaPrefix}_${randomBytes(6).toString('hex')}`;
        schemas.push(schema);
        return { database: { url: PG_TEST_URL, schema } };
      },
    },
  ];
}
