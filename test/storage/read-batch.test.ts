/**
 * Look-ups of one event-loop turn share one read transaction (the CONNECT path's credential reads, read-batch.ts):
 * each gets its own answer, a failing one fails alone, and all of them see one consistent state of the file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ReadBatch } from '../../src/storage/platform/read-batch.js';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-read-batch-'));
after(() => fs.rmSync(tempDir, { recursive: true, force: true }));
let fileCount = 0;

/** A WAL file with `t(k, v)` holding k = 1..3, and a second connection to it (another writer, as a worker is). */
function openPair(): { reader: Database.Database; writer: Database.Database } {
  const file = path.join(tempDir, `r-${String(++fileCount)}.db`);
  const reader = new Database(file);
  reader.pragma('journal_mode = WAL');
  reader.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  reader.exec("INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
  return { reader, writer: new Database(file) };
}

describe('ReadBatch', () => {
  test('look-ups issued in one turn each get their own answer, and one that throws fails alone', async () => {
    const { reader, writer } = openPair();
    const batch = new ReadBatch(reader);
    const get = reader.prepare<[number], { v: string }>('SELECT v FROM t WHERE k = ?');
    const answers = [1, 2, 3, 4].map((k) => batch.read(() => get.get(k)?.v));
    const broken = batch.read(() => reader.prepare('SELECT missing_column FROM t').get());
    assert.deepEqual(await Promise.all(answers), ['one', 'two', 'three', undefined]);
    await assert.rejects(broken, /no such column/);
    reader.close();
    writer.close();
  });

  test('the look-ups of one turn see one state of the file, and a later turn sees what was committed since', async () => {
    const { reader, writer } = openPair();
    const batch = new ReadBatch(reader);
    const get = reader.prepare<[number], { v: string }>('SELECT v FROM t WHERE k = ?');
    const first = batch.read(() => {
      const value = get.get(1)?.v;
      // Another connection commits while the batch runs: outside a shared transaction the next read would see it.
      writer.prepare("UPDATE t SET v = 'changed' WHERE k = 2").run();
      return value;
    });
    const second = batch.read(() => get.get(2)?.v);
    assert.deepEqual([await first, await second], ['one', 'two']);
    assert.equal(await batch.read(() => get.get(2)?.v), 'changed');
    reader.close();
    writer.close();
  });

  test('look-ups on a closed database are refused, not left waiting', async () => {
    const { reader, writer } = openPair();
    const batch = new ReadBatch(reader);
    const get = reader.prepare<[number], { v: string }>('SELECT v FROM t WHERE k = ?');
    const reads = [batch.read(() => get.get(1)), batch.read(() => get.get(2))];
    reader.close();
    for (const read of reads) await assert.rejects(read, /not open/);
    writer.close();
  });
});
