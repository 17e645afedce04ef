/**
 * The point reads of one event-loop turn in one read transaction. On a WAL database every statement outside a
 * transaction starts and ends a read transaction of its own, which takes and releases a lock on the shared WAL
 * index (two `fcntl` calls) and re-validates the page cache; measured here that is most of a credential look-up
 * (about 5 µs alone, 0.5–0.9 µs each in transactions of 100). A reconnect storm asks for thousands per second, and
 * the CONNECTs read in one poll phase now share one transaction: reads queue until `setImmediate`, then run
 * together.
 *
 * Each read sees the database as of the batch's start: every write committed before it, as a read issued at that
 * moment would. A read that throws rejects only its own promise.
 */
import type Database from 'better-sqlite3';

interface PendingRead {
  answer: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  isSettled: boolean;
}

function settleRead(read: PendingRead): void {
  try {
    read.resolve(read.answer());
  } catch (error) {
    read.reject(error instanceof Error ? error : new Error(String(error)));
  }
  read.isSettled = true;
}

export class ReadBatch {
  readonly #inTransaction: (reads: readonly PendingRead[]) => void;
  #pending: PendingRead[] = [];

  constructor(db: Database.Database) {
    this.#inTransaction = db.transaction((reads: readonly PendingRead[]) => {
      for (const read of reads) settleRead(read);
    });
  }

  /** Runs `answer` (synchronous reads on the batch's connection) with the other reads of this turn. */
  read<T>(answer: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ answer, resolve: resolve as (value: unknown) => void, reject, isSettled: false });
      if (this.#pending.length === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const reads = this.#pending;
    this.#pending = [];
    if (reads.length === 1) {
      settleRead(reads[0]!); // one read: its own statement is its transaction
      return;
    }
    try {
      this.#inTransaction(reads);
    } catch (error) {
      // BEGIN or COMMIT failed (a closed database): whatever did not answer fails with it.
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const read of reads) if (!read.isSettled) read.reject(failure);
    }
  };
}
