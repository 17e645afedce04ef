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
import { DuplicateError, UnknownDeviceError, type DataBatch, type WriteOutcome } from '../platform-store.js';
import { WorkerRequests } from '../worker-requests.js';
import type { WriteFailure, WriteReply, WriteRequest, WriterWorkerData } from './sqlite-writer-worker.js';

export class SqliteWriterThread {
  readonly #requests: WorkerRequests<Omit<WriteRequest, 'id'>, WriteReply, WriteOutcome>;

  constructor(data: WriterWorkerData) {
    this.#requests = new WorkerRequests(new URL('./sqlite-writer-worker.js', import.meta.url), data, {
      name: 'the SQLite writer thread',
      decode: (reply: WriteReply) => ('outcome' in reply ? reply.outcome : toError(reply.error)),
    });
  }

  /** False once the thread is gone; the store then writes on its own connection. */
  get isAlive(): boolean {
    return this.#requests.isAlive;
  }

  /** Applies the batch in one transaction on the writer thread; resolves to its outcome once it is committed. */
  write(batch: DataBatch): Promise<WriteOutcome> {
    return this.#requests.request({ batch });
  }

  /** Lets pending writes finish, then closes the thread's connection. */
  stop(): Promise<void> {
    return this.#requests.stop();
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
