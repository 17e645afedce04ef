/**
 * The SQLite store keeps prepared statements; past its bound it forgets the oldest, and a forgotten statement is
 * simply prepared again: answers never depend on what the cache holds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { StatementCache } from '../../src/storage/platform/statement-cache.js';

test('statements evicted from a full cache still answer correctly when used again', () => {
  const db = new Database(':memory:');
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
  const cache = new StatementCache(db, 2);
  const read = (k: number): string | undefined =>
    cache.get<{ v: string }>(`SELECT v FROM t WHERE k = ${String(k)}`).get()?.v;
  assert.equal(read(1), 'one');
  assert.equal(read(2), 'two');
  assert.equal(read(3), 'three'); // evicts k = 1's statement
  assert.equal(read(1), 'one');
  // The same text returns the same prepared statement while it is held.
  assert.equal(cache.get('SELECT v FROM t WHERE k = 1'), cache.get('SELECT v FROM t WHERE k = 1'));
  db.close();
});
