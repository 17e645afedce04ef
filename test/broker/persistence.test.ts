/**
 * The group commit in front of the broker store, on the SQLite store with its writer thread (background commits)
 * and on the memory store (synchronous ones): acknowledgements wait for exactly the writes queued before them, and
 * what queues during a background commit goes out as one next batch.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { PersistenceQueue } from '../../src/broker/persistence.js';
import { MemoryBrokerStore, SqliteBrokerStore, type BrokerStore } from '../../src/storage/index.js';
import { message, put, session } from '../storage/store-fixtures.js';

const tempDir = mkdtempSync(join(tmpdir(), 'switchboard-persistence-'));
after(() => rmSync(tempDir, { recursive: true, force: true }));
let fileCount = 0;
const silent = pino({ level: 'silent' });

const STORES: readonly { name: string; create: () => BrokerStore }[] = [
  {
    name: 'SQLite with its writer thread',
    create: () => new SqliteBrokerStore(join(tempDir, `q-${++fileCount}.db`), { writerThread: true }),
  },
  { name: 'memory', create: () => new MemoryBrokerStore() },
];

/** A waiter that records, when it runs, what the store holds and the error it was given. */
function recorder(store: BrokerStore, log: string[], label: string) {
  return {
    onCommitted: (error: Error | undefined) => {
      const clients = store
        .load()
        .sessions.map((stored) => stored.clientId)
        .join(',');
      log.push(`${label}: ${error === undefined ? 'ok' : 'failed'} [${clients}]`);
    },
  };
}

for (const { name, create } of STORES) {
  describe(`PersistenceQueue on ${name}`, () => {
    test('a waiter runs once the writes queued before it are stored, and waiters run in the order they came', async () => {
      const store = create();
      const queue = new PersistenceQueue(store, silent);
      const log: string[] = [];
      queue.push(put(session('a')));
      queue.afterCommit(recorder(store, log, 'first'));
      queue.flush(); // one batch: [a]; b goes in the next
      queue.push(put(session('b')));
      queue.afterCommit(recorder(store, log, 'second'));
      assert.equal(queue.isIdle, false);
      await queue.drain();
      assert.deepEqual(log, ['first: ok [a]', 'second: ok [a,b]']);
      assert.equal(queue.isIdle, true);
      await store.close();
    });

    test('a waiter with nothing queued before it runs on the next flush without a write', async () => {
      const store = create();
      const queue = new PersistenceQueue(store, silent);
      const log: string[] = [];
      queue.afterCommit(recorder(store, log, 'alone'));
      await queue.drain();
      assert.deepEqual(log, ['alone: ok []']);
      assert.equal(queue.stats.commits, 0);
      await store.close();
    });

    test('a failed batch tells its waiters, and the writes queued after it are still stored', async () => {
      const store = create();
      const queue = new PersistenceQueue(store, silent);
      const log: string[] = [];
      queue.push(put(message(1, { qos: 7 as 0 }))); // refused by every store
      queue.afterCommit(recorder(store, log, 'broken'));
      queue.flush();
      queue.push(put(session('c')));
      queue.afterCommit(recorder(store, log, 'next'));
      await queue.drain();
      assert.deepEqual(log, ['broken: failed []', 'next: ok [c]']);
      await store.close();
    });
  });
}

describe('PersistenceQueue with background commits', () => {
  test('writes queued while a commit is in flight go out together in the next one', async () => {
    const store = new SqliteBrokerStore(join(tempDir, `q-${++fileCount}.db`), { writerThread: true });
    const queue = new PersistenceQueue(store, silent);
    queue.push(put(session('first')));
    queue.flush(); // in flight on the writer thread from here
    assert.equal(queue.isIdle, false, 'a commit in flight is not idle: a CONNACK must wait for it');
    for (let i = 0; i < 50; i++) queue.push(put(session(`later-${String(i)}`)));
    queue.flush(); // must not start a second commit beside the first
    await queue.drain();
    assert.equal(queue.stats.commits, 2);
    assert.equal(store.load().sessions.length, 51);
    await store.close();
  });
});
