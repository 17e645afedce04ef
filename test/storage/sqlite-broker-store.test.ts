import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteBrokerStore, type BrokerStore } from '../../src/storage/index.js';
import { runBrokerStoreContract } from './broker-store-contract.js';
import { killBatch, messagesPerBatch } from './fixtures/kill-batches.js';

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
function reopenStore(store: BrokerStore): BrokerStore {
  const filePath = filePaths.get(store)!;
  store.close();
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

  test('a new file uses the WAL journal and records its schema version', () => {
    const filePath = newFilePath();
    new SqliteBrokerStore(filePath).close();
    const db = new Database(filePath, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 2);
    } finally {
      db.close();
    }
  });

  test('a version 1 file (before delivery guards) is migrated and keeps its subscriptions', () => {
    const filePath = newFilePath();
    new SqliteBrokerStore(filePath).close();
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
      store.close();
    }
  });

  test('a file written by a newer schema version is refused, not downgraded', () => {
    const filePath = newFilePath();
    new SqliteBrokerStore(filePath).close();
    const db = new Database(filePath);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(
      () => new SqliteBrokerStore(filePath),
      (error: unknown) => error instanceof Error && error.message.includes(filePath) && /99/.test(error.message),
    );
  });

  test('every batch a process reported applied survives its kill -9, and no batch is half applied', async () => {
    const filePath = newFilePath();
    const fixture = fileURLToPath(new URL('fixtures/write-then-die.js', import.meta.url));
    const child = spawn(process.execPath, [fixture, filePath], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      store.close();
    }
  });
});
