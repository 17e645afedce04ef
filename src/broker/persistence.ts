/**
 * Group commit in front of the broker store: writes from one turn of the event loop are applied in one transaction,
 * and acknowledgements that promised durability are released only after that transaction returned.
 */
import type { Logger } from 'pino';
import type { BrokerStore, StoreOp } from '../storage/index.js';

/** Something to run once the writes queued before it are durable (or have failed). */
export interface CommitWaiter {
  onCommitted(error: Error | undefined): void;
}

/** Batches store writes; `flush` runs on `setImmediate` so a whole poll phase of socket reads shares one commit. */
export class PersistenceQueue {
  readonly #store: BrokerStore;
  readonly #logger: Logger;
  #ops: StoreOp[] = [];
  #waiters: CommitWaiter[] = [];
  #isScheduled = false;
  #commitCount = 0;
  #lastCommitMs = 0;

  constructor(store: BrokerStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Queues one write for the next commit. */
  push(op: StoreOp): void {
    this.#ops.push(op);
    this.#schedule();
  }

  /** Runs `waiter` after every write queued so far is committed, in the order waiters were added. */
  afterCommit(waiter: CommitWaiter): void {
    this.#waiters.push(waiter);
    this.#schedule();
  }

  /** Whether writes or waiters are queued. */
  get isIdle(): boolean {
    return this.#ops.length === 0 && this.#waiters.length === 0;
  }

  /** Commits made so far, and how long the last one took (for metrics). */
  get stats(): { commits: number; lastCommitMs: number } {
    return { commits: this.#commitCount, lastCommitMs: this.#lastCommitMs };
  }

  /** Commits now; used by the scheduled flush and at shutdown. */
  flush(): void {
    this.#isScheduled = false;
    const ops = this.#ops;
    const waiters = this.#waiters;
    if (ops.length === 0 && waiters.length === 0) return;
    this.#ops = [];
    this.#waiters = [];
    let failure: Error | undefined;
    if (ops.length > 0) {
      const started = performance.now();
      try {
        this.#store.apply(ops);
        this.#commitCount++;
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
        this.#logger.error({ err: failure, ops: ops.length }, 'store write failed; affected clients are disconnected');
      }
      this.#lastCommitMs = performance.now() - started;
    }
    for (const waiter of waiters) waiter.onCommitted(failure);
  }

  #schedule(): void {
    if (this.#isScheduled) return;
    this.#isScheduled = true;
    setImmediate(this.#flushBound);
  }

  readonly #flushBound = (): void => {
    this.flush();
  };
}
