/**
 * Device-data writes of the SQLite platform store on a thread of their own. better-sqlite3 is synchronous: a commit
 * on the main thread holds every socket of the server for its whole duration (about 10 ms for bench g's batches of
 * 4,000 points), and the messages that arrive meanwhile wait for it before they are even read. On a worker
 * thread the commit runs beside the event loop, which keeps reading, parsing and acknowledging; the next batch
 * grows while this one commits (the data writer keeps one write in flight), as it does with PostgreSQL.
 *
 * The worker has its own connection to the same file; WAL mode lets the main connection read (and write entities)
 * meanwhile, and a read that starts after a write's promise resolved sees that write. If the worker dies, every
 * pending write fails and later ones run on the main connection, so data is never silently lost.
 */
import { Worker } from 'node:worker_threads';
import { DuplicateError, UnknownDeviceError, type DataBatch, type WriteOutcome } from '../platform-store.js';
import type { WriteFailure, WriteReply, WriterWorkerData } from './sqlite-writer-worker.js';

interface Pending {
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: Error) => void;
}

export class SqliteWriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #isAlive = true;
  readonly #exited: Promise<void>;

  constructor(data: WriterWorkerData) {
    this.#worker = new Worker(new URL('./sqlite-writer-worker.js', import.meta.url), { workerData: data });
    this.#worker.unref(); // referenced only while writes are pending
    this.#worker.on('message', (reply: WriteReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if ('outcome' in reply) pending.resolve(reply.outcome);
      else pending.reject(toError(reply.error));
    });
    this.#worker.on('error', () => {
      // 'exit' follows.
    });
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#isAlive = false;
        const failure = new Error(`the SQLite writer thread exited (code ${String(code)}); the batch was not stored`);
        for (const pending of this.#pending.values()) pending.reject(failure);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** False once the thread is gone; the store then writes on its own connection. */
  get isAlive(): boolean {
    return this.#isAlive;
  }

  /** Applies the batch in one transaction on the writer thread; resolves to its outcome once it is committed. */
  write(batch: DataBatch): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, batch });
    });
  }

  /** Lets pending writes finish, then closes the thread's connection. */
  async stop(): Promise<void> {
    if (!this.#isAlive) return;
    this.#worker.ref();
    this.#worker.postMessage('stop'); // queued behind every write already posted
    await this.#exited;
  }
}

function toError(failure: WriteFailure): Error {
  switch (failure.kind) {
    case 'duplicate':
      return new DuplicateError(failure.what);
    case 'unknown-device':
      return new UnknownDeviceError(failure.deviceIds);
    case 'other':
      return new Error(failure.message);
  }
}
