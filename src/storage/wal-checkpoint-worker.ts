/**
 * The worker thread behind `WalCheckpointer`: its own connection to the database file, checkpointing the WAL into
 * the main file every `intervalMs`. A checkpoint ends in an fsync of the database file; done here, the event loop of
 * the server never waits for it (a checkpoint on the writer's connection stalled its commit by 10–20 ms here).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

interface CheckpointWorkerData {
  filePath: string;
  intervalMs: number;
  synchronous: 'NORMAL' | 'FULL';
}

const { filePath, intervalMs, synchronous } = workerData as CheckpointWorkerData;
const db = new Database(filePath, { fileMustExist: true, timeout: 1_000 });
db.pragma(`synchronous = ${synchronous}`);

const checkpoint = (): void => {
  try {
    // PASSIVE: copies what it can without waiting for the writer or readers; the next run continues.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // SQLITE_BUSY and the like: the next interval tries again. A persistent failure only lets the WAL grow, which
    // the main connection's journal_size_limit bounds once a later checkpoint succeeds.
  }
};
const timer = setInterval(checkpoint, intervalMs);

parentPort?.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort?.close();
});
