/**
 * Group commit in front of the broker store: writes queued during a turn of the event loop are applied in one
 * transaction, and acknowledgements that promised durability are released only after that transaction committed.
 *
 * A store with `applyInBackground` (SQLite's writer thread) commits beside the event loop. One batch is in flight at
 * a time; whatever is queued meanwhile goes in the next batch the moment the first one committed, so the busier the
 * broker, the larger and fewer its commits. Without it, a batch is applied synchronously on `setImmediate`, so a
 * whole poll phase of socket reads shares one commit.
 */
import type { Logger } from 'pino';
import type { BrokerStore, StoreOp } from '../storage/index.js';
import { compactBatch } from './batch-compaction.js';

/** Something to run once the writes queued before it are durable (or have failed). */
export interface CommitWaiter {
  onCommitted(error: Error | undefined): void;
}

export class PersistenceQueue {
  readonly #store: BrokerStore;
  readonly #logger: Logger;
  #ops: StoreOp[] = [];
  #waiters: CommitWaiter[] = [];
  #isScheduled = false;
  /** A background commit has not answered yet; the next batch waits for it. */
  #isCommitting = false;
  /** `drain()` callers, resolved when nothing is queued or committing. */
  #drainers: (() => void)[] = [];
  #commitCount = 0;
  #lastCommitMs = 0;
  #opsQueued = 0;
  #opsWritten = 0;

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

  /** Whether writes or waiters are queued, or a commit has not answered yet. */
  get isIdle(): boolean {
    return this.#ops.length === 0 && this.#waiters.length === 0 && !this.#isCommitting;
  }

  /**
   * Commits made so far, how long the last one took, and the ops queued and written (fewer: batch-compaction.ts).
   */
  get stats(): { commits: number; lastCommitMs: number; opsQueued: number; opsWritten: number } {
    return {
      commits: this.#commitCount,
      lastCommitMs: this.#lastCommitMs,
      opsQueued: this.#opsQueued,
      opsWritten: this.#opsWritten,
    };
  }

  /** Starts committing what is queued, unless a commit is in flight (its end starts the next one). */
  flush(): void {
    this.#isScheduled = false;
    if (this.#isCommitting) return;
    const ops = this.#ops;
    const waiters = this.#waiters;
    if (ops.length === 0 && waiters.length === 0) {
      this.#resolveDrainers();
      return;
    }
    this.#ops = [];
    this.#waiters = [];
    this.#opsQueued += ops.length;
    const batch = compactBatch(ops);
    this.#opsWritten += batch.length;
    if (batch.length === 0) {
      // Nothing to write and nothing in flight: every write before these waiters is already durable.
      this.#settle(waiters, undefined);
      return;
    }
    const started = performance.now();
    const inBackground = this.#store.applyInBackground?.(batch);
    if (inBackground === undefined) {
      this.#settle(waiters, this.#applyNow(batch), started);
      return;
    }
    this.#isCommitting = true;
    inBackground.then(
      () => {
        this.#isCommitting = false;
        this.#settle(waiters, undefined, started);
      },
      (error: unknown) => {
        this.#isCommitting = false;
        this.#settle(waiters, this.#failed(error, batch.length), started);
      },
    );
  }

  /** Resolves once everything queued before the call (and anything queued meanwhile) is committed or failed. */
  drain(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drainers.push(resolve);
      this.flush();
    });
  }

  #applyNow(ops: readonly StoreOp[]): Error | undefined {
    try {
      this.#store.apply(ops);
      return undefined;
    } catch (error) {
      return this.#failed(error, ops.length);
    }
  }

  #failed(error: unknown, opCount: number): Error {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.#logger.error({ err: failure, ops: opCount }, 'store write failed; affected clients are disconnected');
    return failure;
  }

  /** Tells the batch's waiters, then starts the next batch if one has grown meanwhile. */
  #settle(waiters: readonly CommitWaiter[], failure: Error | undefined, startedMs?: number): void {
    if (startedMs !== undefined) {
      this.#lastCommitMs = performance.now() - startedMs;
      if (failure === undefined) this.#commitCount++;
    }
    for (const waiter of waiters) waiter.onCommitted(failure);
    if (this.#isCommitting) return;
    if (this.#ops.length > 0 || this.#waiters.length > 0) {
      // At once rather than on the next setImmediate: what queued during the commit is the next group.
      if (this.#store.applyInBackground !== undefined || this.#drainers.length > 0) this.flush();
      return;
    }
    this.#resolveDrainers();
  }

  #resolveDrainers(): void {
    if (this.#drainers.length === 0) return;
    const drainers = this.#drainers;
    this.#drainers = [];
    for (const resolve of drainers) resolve();
  }

  #schedule(): void {
    if (this.#isScheduled || this.#isCommitting) return;
    this.#isScheduled = true;
    setImmediate(this.#flushBound);
  }

  readonly #flushBound = (): void => {
    this.flush();
  };
}
