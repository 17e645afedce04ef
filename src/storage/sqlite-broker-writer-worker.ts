/**
 * The worker thread behind `BrokerWriterThread`: its own connection to the broker database, applying each batch of
 * encoded ops in one transaction, in the order they arrive. Replies `{ id }` once the batch committed, or
 * `{ id, message }` when it failed and was rolled back. The counters start from the file's row and move only with
 * committed batches, as on the store's own connection.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatchWriter, readCounters, type EncodedOp } from './sqlite-broker-writes.js';

export interface BrokerWriterWorkerData {
  filePath: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
}

export interface BrokerWriteRequest {
  id: number;
  ops: readonly EncodedOp[];
}

export type BrokerWriteReply = { id: number } | { id: number; message: string };

const options = workerData as BrokerWriterWorkerData;
const db = new Database(options.filePath, { fileMustExist: true, timeout: options.busyTimeoutMs });
db.pragma(`synchronous = ${options.synchronous}`);
// Checkpoints are the checkpointer thread's (wal-checkpointer.ts); this connection only appends to the WAL.
db.pragma('wal_autocheckpoint = 0');
const writeBatch = prepareBatchWriter(db);
let counters = readCounters(db);

parentPort?.on('message', (message: BrokerWriteRequest | 'stop') => {
  if (message === 'stop') {
    db.close();
    parentPort?.close();
    return;
  }
  let reply: BrokerWriteReply;
  try {
    counters = writeBatch(message.ops, counters);
    reply = { id: message.id };
  } catch (error) {
    reply = { id: message.id, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
