/**
 * The module-table part of the platform store contract: a dialect's own tables are migrated once, in order, on both
 * databases, and reached through the same SQL surface.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModuleSchema } from '../../src/storage/index.js';
import type { WithStore } from './platform-store-contract.js';
import { organization } from './platform-store-fixtures.js';

const notes: ModuleSchema = {
  module: 'notes',
  sqlite: [
    `CREATE TABLE notes_items (
       id TEXT PRIMARY KEY,
       org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       body TEXT NOT NULL,
       pinned INTEGER NOT NULL
     ) STRICT`,
    `ALTER TABLE notes_items ADD COLUMN at INTEGER`,
  ],
  postgres: [
    `CREATE TABLE notes_items (
       id text PRIMARY KEY,
       org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       body text NOT NULL,
       pinned boolean NOT NULL
     )`,
    `ALTER TABLE notes_items ADD COLUMN at bigint`,
  ],
};

export function registerModuleTests(withStore: WithStore): void {
  test("a module's tables are created by its migrations and used with ? placeholders on either database", () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      const sql = await store.openModule(notes);
      assert.equal(
        await sql.run('INSERT INTO notes_items (id, org_id, body, pinned, at) VALUES (?, ?, ?, ?, ?)', [
          'n1',
          'a',
          "it's ? not a placeholder",
          true,
          1_700_000_000_000,
        ]),
        1,
      );
      const rows = await sql.query<{ body: string; pinned: unknown; at: number }>(
        "SELECT body, pinned, at FROM notes_items WHERE id = ? AND body <> '?'",
        ['n1'],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.body, "it's ? not a placeholder");
      assert.equal(Boolean(rows[0]!.pinned), true);
      // int8 comes back as a number on PostgreSQL too.
      assert.equal(rows[0]!.at, 1_700_000_000_000);
    }));

  test('opening a module again applies no migration twice and keeps its rows', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      const first = await store.openModule({
        ...notes,
        sqlite: notes.sqlite.slice(0, 1),
        postgres: notes.postgres.slice(0, 1),
      });
      await first.run('INSERT INTO notes_items (id, org_id, body, pinned) VALUES (?, ?, ?, ?)', [
        'n1',
        'a',
        'x',
        false,
      ]);
      // A later release adds migration 2: only it runs.
      const second = await store.openModule(notes);
      await second.run('UPDATE notes_items SET at = ? WHERE id = ?', [5, 'n1']);
      const again = await store.openModule(notes);
      assert.deepEqual(await again.query('SELECT id, at FROM notes_items'), [{ id: 'n1', at: 5 }]);
      // Code older than the stored tables refuses to run on them.
      await assert.rejects(
        store.openModule({ ...notes, sqlite: notes.sqlite.slice(0, 1), postgres: notes.postgres.slice(0, 1) }),
        /newer than this code/,
      );
    }));

  test('a batch is applied all or nothing, and module rows go with their organization', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      const sql = await store.openModule(notes);
      const insert = 'INSERT INTO notes_items (id, org_id, body, pinned) VALUES (?, ?, ?, ?)';
      await assert.rejects(
        sql.batch([
          { sql: insert, params: ['n1', 'a', 'first', false] },
          { sql: insert, params: ['n1', 'a', 'same id', false] },
        ]),
      );
      assert.deepEqual(await sql.query('SELECT id FROM notes_items'), []);
      assert.deepEqual(
        await sql.batch([
          { sql: insert, params: ['n1', 'a', 'first', false] },
          { sql: 'UPDATE notes_items SET body = ? WHERE id = ?', params: ['edited', 'n1'] },
        ]),
        [1, 1],
      );
      assert.equal(await store.deleteOrganization('a'), true);
      assert.deepEqual(await sql.query('SELECT id FROM notes_items'), []);
    }));

  test('a malformed module name is refused', () =>
    withStore(async (store) => {
      await assert.rejects(store.openModule({ ...notes, module: 'Bad Name' }), /invalid module name/);
    }));
}
