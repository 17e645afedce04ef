/**
 * Moves SQLite's WAL checkpoints off the event loop. SQLite checkpoints on the committing connection by default
 * (every 1,000 WAL pages); the checkpoint copies pages into the database file and fsyncs it, inside the commit that
 * crossed the threshold. A store that commits a batch per event-loop turn would hold every socket of the server for
 * that time. With a checkpointer the writer's connection never checkpoints (`wal_autocheckpoint = 0`) and a worker
 * thread with its own connection does it every `intervalMs`, concurrently with the writer (WAL mode allows that).
 *
 * Should the worker die, the writer's connection goes back to checkpointing itself, so the WAL never grows without
 * bound.
 */
import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';

/** SQLite's own default threshold, restored if the worker is gone. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 1_000;
/** After a checkpoint has caught up, the WAL file is truncated back to this size when SQLite restarts it. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export interface WalCheckpointerOptions {
  /** How often the worker checkpoints; default 1 s (shorter intervals cost bench g throughput and p99 here). */
  intervalMs?: number;
  synchronous: 'normal' | 'full';
}

export class WalCheckpointer {
  readonly #db: Database.Database;
  readonly #worker: Worker;
  #isRunning = true;
  readonly #exited: Promise<void>;

  /** Starts the worker for `db`, a WAL-mode connection to the file `filePath`. */
  constructor(db: Database.Database, filePath: string, options: WalCheckpointerOptions) {
    this.#db = db;
    db.pragma(`journal_size_limit = ${String(JOURNAL_SIZE_LIMIT_BYTES)}`);
    db.pragma('wal_autocheckpoint = 0');
    this.#worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), {
      workerData: {
        filePath,
        intervalMs: options.intervalMs ?? 1_000,
        synchronous: options.synchronous === 'full' ? 'FULL' : 'NORMAL',
      },
    });
    // The worker must not keep a process alive whose store was never closed (a test, a CLI command).
    this.#worker.unref();
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        if (this.#isRunning) this.#fallBack();
        resolve();
      });
    });
    this.#worker.on('error', () => {
      // 'exit' follows and falls back.
    });
  }

  /** Stops the worker after a last checkpoint; call before closing the writer's connection. */
  async stop(): Promise<void> {
    if (!this.#isRunning) return this.#exited;
    this.#isRunning = false;
    this.#worker.ref(); // waiting for its exit must keep the process alive
    this.#worker.postMessage('stop');
    await this.#exited;
  }

  #fallBack(): void {
    this.#isRunning = false;
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${String(FALLBACK_AUTOCHECKPOINT_PAGES)}`);
  }
}
