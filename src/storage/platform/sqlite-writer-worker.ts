/**
 * The worker thread behind `SqliteWriterThread`: its own connection to the platform database, applying device-data
 * batches exactly as the store would on its own connection (`SqliteDeviceData.write`: one transaction per batch).
 * Replies `{ id, outcome }` once the transaction committed (the outcome is plain data, cloned as is), or
 * `{ id, error }` describing the failure so the main thread can rebuild the contract's error types.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { DuplicateError, UnknownDeviceError, type DataBatch, type WriteOutcome } from '../platform-store.js';
import { SqliteDeviceData } from './sqlite-device-data.js';

export interface WriterWorkerData {
  filePath: string;
  synchronous: 'NORMAL' | 'FULL';
  cacheSizeKiB: number;
  busyTimeoutMs: number;
}

export interface WriteRequest {
  id: number;
  batch: DataBatch;
}

export type WriteFailure =
  | { kind: 'duplicate'; what: string }
  | { kind: 'unknown-device'; deviceIds: string[] }
  | { kind: 'other'; message: string };

export type WriteReply = { id: number; outcome: WriteOutcome } | { id: number; error: WriteFailure };

const options = workerData as WriterWorkerData;
const db = new Database(options.filePath, { fileMustExist: true, timeout: options.busyTimeoutMs });
db.pragma(`synchronous = ${options.synchronous}`);
db.pragma(`cache_size = -${String(options.cacheSizeKiB)}`);
// Checkpoints are the checkpointer thread's (wal-checkpointer.ts); this connection only appends to the WAL.
db.pragma('wal_autocheckpoint = 0');
const data = new SqliteDeviceData(db);

function describe(error: unknown): WriteFailure {
  if (error instanceof DuplicateError) return { kind: 'duplicate', what: error.what };
  if (error instanceof UnknownDeviceError) return { kind: 'unknown-device', deviceIds: error.deviceIds };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

parentPort?.on('message', (message: WriteRequest | 'stop') => {
  if (message === 'stop') {
    db.close();
    parentPort?.close();
    return;
  }
  let reply: WriteReply;
  try {
    reply = { id: message.id, outcome: data.write(message.batch) };
  } catch (error) {
    reply = { id: message.id, error: describe(error) };
  }
  parentPort?.postMessage(reply);
});
