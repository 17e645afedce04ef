import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteBrokerStore, type BrokerStore, type StoreOp } from '../../src/storage/index.js';
import { runBrokerStoreContract } from './broker-store-contract.js';
import { killBatch, messagesPerBatch } from './fixtures/kill-batches.js';
import { counters, delivery, message, put, putDelivery, session } from './store-fixtures.js';
import { BrokerWriterThread } from '../../src/storage/sqlite-broker-writer.js';
import { encodeStoreOps } from '../../src/storage/sqlite-broker-writes.js';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-sqlite-store-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));

let fileCount = 0;
function newFilePath(): string {
  fileCount += 1;
  return path.join(tempDir, `store-${fileCount}.db`);
}

const filePaths = new WeakMap<BrokerStore, string>();
function createStore(options?: { synchronous: 'normal' | 'full' }): BrokerStore {
  const filePath = newFilePath();
  const store = new SqliteBrokerStore(filePath, options);
  filePaths.set(store, filePath);
  return store;
}
async function reopenStore(store: BrokerStore): Promise<BrokerStore> {
  const filePath = filePaths.get(store)!;
  await store.close();
  const reopened = new SqliteBrokerStore(filePath);
  filePaths.set(reopened, filePath);
  return reopened;
}

runBrokerStoreContract('SqliteBrokerStore (file, synchronous normal)', () => createStore(), reopenStore);
runBrokerStoreContract(
  'SqliteBrokerStore (file, synchronous full)',
  () => createStore({ synchronous: 'full' }),
  reopenStore,
);
runBrokerStoreContract('SqliteBrokerStore (:memory:)', () => new SqliteBrokerStore(':memory:'));

describe('SqliteBrokerStore', () => {
  test('opening a file in a missing directory throws an Error naming the path, with the cause', () => {
    const filePath = path.join(tempDir, 'missing-dir', 'store.db');
    assert.throws(
      () => new SqliteBrokerStore(filePath),
      (error: unknown) => error instanceof Error && error.message.includes(filePath) && error.cause instanceof Error,
    );
  });

  test('opening a file that is not a database throws an Error naming the path, with the cause', () => {
    const filePath = newFilePath();
    fs.writeFileSync(
      filePath,
      'this is not an SQLite database, just some text long enough to have a header'.repeat(10),
    );
    assert.throws(
      () => new SqliteBrokerStore(filePath),
      (error: unknown) => error instanceof Error && error.message.includes(filePath) && error.cause instanceof Error,
    );
  });

  test('a new file uses the WAL journal and records its schema version', async () => {
    const filePath = newFilePath();
    await new SqliteBrokerStore(filePath).close();
    const db = new Database(filePath, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 2);
    } finally {
      db.close();
    }
  });

  test('a version 1 file (before delivery guards) is migrated and keeps its subscriptions', async () => {
    const filePath = newFilePath();
    await new SqliteBrokerStore(filePath).close();
    const db = new Database(filePath);
    db.exec('ALTER TABLE subscriptions DROP COLUMN guard');
    db.prepare('INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?)').run('old-client', 'a/#', 1, 0, 0, 0, 0);
    db.pragma('user_version = 1');
    db.close();
    const store = new SqliteBrokerStore(filePath);
    try {
      const loaded = store.load().subscriptions.get('old-client');
      assert.deepEqual(loaded, [
        { topicFilter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 },
      ]);
    } finally {
      await store.close();
    }
  });

  test('a file written by a newer schema version is refused, not downgraded', async () => {
    const filePath = newFilePath();
    await new SqliteBrokerStore(filePath).close();
    const db = new Database(filePath);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(
      () => new SqliteBrokerStore(filePath),
      (error: unknown) => error instanceof Error && error.message.includes(filePath) && /99/.test(error.message),
    );
  });

  for (const mode of ['sync', 'background'] as const) {
    test(`every batch a process reported durable (${mode === 'sync' ? 'apply' : 'applyInBackground'}) survives its kill -9, and no batch is half applied`, async () => {
      const filePath = newFilePath();
      const fixture = fileURLToPath(new URL('fixtures/write-then-die.js', import.meta.url));
      const child = spawn(process.execPath, [fixture, filePath, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let lastReported = 0;
      let stdout = '';
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const lines = stdout.split('\n');
        stdout = lines.pop()!;
        for (const line of lines) lastReported = Number(line);
        // Kill while the child is busy writing, not at a quiet moment.
        if (lastReported >= 40 && child.exitCode === null) child.kill('SIGKILL');
      });
      const signal = await exited;
      assert.equal(signal, 'SIGKILL', `the child ended on its own: ${stderr}`);
      assert.ok(lastReported >= 40, `only ${lastReported} batches reported`);

      const store = new SqliteBrokerStore(filePath);
      try {
        const snapshot = store.load();
        const sessions = new Set(snapshot.sessions.map((s) => s.clientId));
        // Batches reported applied, plus possibly the one committed just before the kill: a prefix 1..n, n ≥ reported.
        const applied = snapshot.sessions.length;
        assert.ok(applied >= lastReported, `${applied} batches stored, ${lastReported} reported`);
        for (let batch = 1; batch <= applied; batch++) {
          const expected = killBatch(batch);
          const clientId = `batch-${batch}`;
          assert.ok(sessions.has(clientId), `batch ${batch} missing`);
          const deliveries = snapshot.deliveries.get(clientId) ?? [];
          assert.equal(deliveries.length, messagesPerBatch, `batch ${batch} half applied`);
          for (const op of expected) {
            if (op.op === 'putMessage') assert.deepEqual(snapshot.messages.get(op.message.id), op.message);
            if (op.op === 'putDelivery') assert.ok(deliveries.some((d) => d.seq === op.delivery.seq));
          }
        }
        assert.equal(snapshot.maxDeliverySeq, applied * 1000 + messagesPerBatch - 1);
      } finally {
        await store.close();
      }
    });
  }

  test('batches applied in the background commit in call order and load sees each once it resolved', async () => {
    const store = new SqliteBrokerStore(newFilePath());
    try {
      const first = store.applyInBackground([put(session('a')), put(message(1)), putDelivery(delivery('a', 1, 1))]);
      // Queued behind the first: deletes what the first wrote, so applying them out of order would leave rows.
      const second = store.applyInBackground([
        { op: 'deleteDelivery', clientId: 'a', seq: 1 },
        { op: 'deleteMessage', id: 1 },
        put(message(2)),
        putDelivery(delivery('a', 2, 2)),
      ]);
      await first;
      await second;
      const snapshot = store.load();
      assert.deepEqual(snapshot.sessions, [session('a')]);
      assert.deepEqual(snapshot.deliveries.get('a'), [delivery('a', 2, 2)]);
      assert.deepEqual([...snapshot.messages.keys()], [2]);
      assert.deepEqual(counters(snapshot), { maxMessageId: 2, maxDeliverySeq: 2 });
    } finally {
      await store.close();
    }
  });

  test('a background batch that breaks a constraint is rejected whole, and the next batch still commits', async () => {
    const store = new SqliteBrokerStore(newFilePath());
    try {
      const broken = store.applyInBackground([
        put(session('a')),
        // qos 7 fails the CHECK constraint: the session before it must not be stored either.
        put(message(1, { qos: 7 as 0 })),
      ]);
      const next = store.applyInBackground([put(session('b'))]);
      await assert.rejects(broken, /CHECK constraint/);
      await next;
      assert.deepEqual(store.load().sessions, [session('b')]);
    } finally {
      await store.close();
    }
  });

  test('an op the store does not know rejects its background batch before anything is written', async () => {
    const store = new SqliteBrokerStore(newFilePath());
    try {
      const ops = [put(session('a')), { op: 'putNothing' } as unknown as StoreOp];
      await assert.rejects(store.applyInBackground(ops), /unknown store op "putNothing"/);
      assert.deepEqual(store.load().sessions, []);
    } finally {
      await store.close();
    }
  });

  test("the counters row never goes backwards when the writer thread and the store's connection both wrote", async () => {
    const filePath = newFilePath();
    const store = new SqliteBrokerStore(filePath);
    // The thread writes ids up to 100; the store's own connection, which knows only its own batches, writes 5.
    await store.applyInBackground([put(message(100)), putDelivery(delivery('a', 40, 100))]);
    store.apply([put(message(5)), putDelivery(delivery('a', 3, 5))]);
    await store.close();
    const reopened = new SqliteBrokerStore(filePath);
    try {
      reopened.apply([
        { op: 'deleteMessage', id: 100 },
        { op: 'deleteDelivery', clientId: 'a', seq: 40 },
      ]);
      assert.deepEqual(counters(reopened.load()), { maxMessageId: 100, maxDeliverySeq: 40 });
    } finally {
      await reopened.close();
    }
  });

  test('with writerThread false, background batches commit on the store connection before the promise resolves', async () => {
    const store = new SqliteBrokerStore(newFilePath(), { writerThread: false });
    try {
      const written = store.applyInBackground([put(session('a'))]);
      assert.deepEqual(store.load().sessions, [session('a')]);
      await written;
    } finally {
      await store.close();
    }
  });
});

describe('BrokerWriterThread', () => {
  test('a thread that is gone settles the batch it had and refuses new ones, so no acknowledgement waits forever', async () => {
    const filePath = newFilePath();
    await new SqliteBrokerStore(filePath, { writerThread: false }).close(); // creates the schema
    const thread = new BrokerWriterThread({ filePath, synchronous: 'NORMAL', busyTimeoutMs: 1_000 });
    const pending = thread.write(encodeStoreOps([put(session('a'))]));
    await thread.terminate();
    const [outcome] = await Promise.allSettled([pending]);
    assert.ok(outcome.status === 'fulfilled' || /exited/.test(String(outcome.reason)), outcome.status);
    assert.equal(thread.isAlive, false);
    await assert.rejects(thread.write(encodeStoreOps([put(session('b'))])), /writer thread has exited/);
  });
});
