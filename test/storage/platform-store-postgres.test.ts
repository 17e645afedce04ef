/**
 * The platform store contract on PostgreSQL. Each store gets its own schema `sb_test_<random>`, dropped afterwards.
 * The server is `SWITCHBOARD_TEST_PG_URL` (default the machine's postgres://postgres@127.0.0.1:5432/test); when it
 * cannot be reached the suites are reported as skipped with the reason.
 */
import { PG_TEST_URL, postgresSkipReason } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresPlatformStore, type PlatformStore } from '../../src/storage/index.js';
import { runPlatformStoreContract } from './platform-store-contract.js';
import { seedOrganization, telemetry } from './platform-store-fixtures.js';

const url = PG_TEST_URL;

/** The reason to skip, or undefined when the server answers. */

const skipReason = await postgresSkipReason();
const admin = skipReason === undefined ? new pg.Pool({ connectionString: url, max: 2 }) : undefined;
after(() => admin?.end());

function newSchema(): string {
  return `sb_test_${randomBytes(6).toString('hex')}`;
}

const schemas = new WeakMap<PlatformStore, string>();

async function dropSchema(schema: string): Promise<void> {
  await admin!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

runPlatformStoreContract(
  'PostgresPlatformStore',
  {
    async create() {
      const schema = newSchema();
      const store = await PostgresPlatformStore.open(url, { schema, maxConnections: 4 });
      schemas.set(store, schema);
      return store;
    },
    async destroy(store) {
      await store.close();
      await dropSchema(schemas.get(store)!);
    },
  },
  skipReason,
);

describe('PostgresPlatformStore', skipReason === undefined ? {} : { skip: skipReason }, () => {
  test('two processes starting at once on a new schema migrate it once', async () => {
    const schema = newSchema();
    const stores = await Promise.all([
      PostgresPlatformStore.open(url, { schema }),
      PostgresPlatformStore.open(url, { schema }),
    ]);
    try {
      const { rows } = await admin!.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations`);
      assert.deepEqual(
        rows.map((row) => row.version),
        [1, 2],
      );
      // Both stores work on the same tables.
      await seedOrganization(stores[0], 'org', ['d1']);
      await stores[1].write(telemetry('d1', [{ key: 't', ts: 1, value: 1.5 }]));
      assert.deepEqual(await stores[0].latestTelemetry('d1'), [{ key: 't', ts: 1, value: 1.5 }]);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await dropSchema(schema);
    }
  });

  test('reopening a migrated schema keeps the data and applies nothing again', async () => {
    const schema = newSchema();
    const first = await PostgresPlatformStore.open(url, { schema });
    try {
      await seedOrganization(first, 'org', ['d1']);
      await first.write(telemetry('d1', [{ key: 't', ts: 1, value: [1, 'a'] }]));
    } finally {
      await first.close();
    }
    const second = await PostgresPlatformStore.open(url, { schema });
    try {
      assert.deepEqual(await second.latestTelemetry('d1'), [{ key: 't', ts: 1, value: [1, 'a'] }]);
      const { rows } = await admin!.query<{ count: string }>(`SELECT count(*) FROM ${schema}.schema_migrations`);
      assert.equal(rows[0]?.count, '2');
    } finally {
      await second.close();
      await dropSchema(schema);
    }
  });

  test('an invalid schema name is refused before connecting', async () => {
    await assert.rejects(PostgresPlatformStore.open(url, { schema: 'x; DROP TABLE y' }), RangeError);
  });
});
