/**
 * Group commit for device data: everything posted during one turn of the event loop goes to the store in one
 * `write` (one transaction), and each poster's callback runs only after that write returned, so a QoS 1 PUBACK or an
 * HTTP 200 never promises data the store does not hold. One write is in flight at a time; what arrives meanwhile
 * forms the next batch (PostgreSQL answers asynchronously, so batches grow under load instead of queries piling up).
 * Committed changes then go to the bus in commit order.
 */
import type { Logger } from 'pino';
import type { DataBatch, PlatformStore } from '../storage/platform-store.js';
import type { StateChangeBus } from './bus.js';
import type { StateChange } from './model.js';

/** Called once the data it was given for is committed (`error` undefined) or definitely not stored. */
export type CommitCallback = (error: Error | undefined) => void;

/** Thrown (through the callback) when more points wait for a commit than `maxPendingItems` allows. */
export class OverloadedError extends Error {
  readonly code = 'OVERLOADED';
  constructor(pending: number) {
    super(`${String(pending)} data items are waiting for storage; try again later`);
    this.name = 'OverloadedError';
  }
}

export interface DataWriterStats {
  commits: number;
  itemsCommitted: number;
  failedCommits: number;
  /** Duration of the last store write, ms. */
  lastCommitMs: number;
  pendingItems: number;
}

function emptyBatch(): DataBatch {
  return { telemetry: [], attributes: [], attributeDeletes: [], events: [] };
}

/** Told about every store write: its duration, the items in it, and whether it committed. */
export type CommitObserver = (durationMs: number, items: number, isCommitted: boolean) => void;

export class DataWriter {
  readonly #store: PlatformStore;
  readonly #bus: StateChangeBus;
  readonly #logger: Logger;
  readonly #maxPendingItems: number;
  #batch = emptyBatch();
  #changes: StateChange[] = [];
  #callbacks: CommitCallback[] = [];
  #pendingItems = 0;
  #isScheduled = false;
  #inFlight: Promise<void> | undefined;
  #stats = { commits: 0, itemsCommitted: 0, failedCommits: 0, lastCommitMs: 0 };
  readonly #observers: CommitObserver[] = [];

  constructor(store: PlatformStore, bus: StateChangeBus, logger: Logger, maxPendingItems: number) {
    this.#store = store;
    this.#bus = bus;
    this.#logger = logger;
    this.#maxPendingItems = maxPendingItems;
  }

  /** Adds an observer of store writes (metrics: the commit latency histogram). */
  observe(observer: CommitObserver): void {
    this.#observers.push(observer);
  }

  get stats(): DataWriterStats {
    return { ...this.#stats, pendingItems: this.#pendingItems };
  }

  /**
   * Queues `fill`'s additions to the next batch with the state changes they make. `items` counts toward the pending
   * bound; past it the callback gets an OverloadedError at once and nothing is queued.
   */
  enqueue(items: number, fill: (batch: DataBatch) => void, changes: StateChange[], done: CommitCallback): void {
    if (this.#pendingItems + items > this.#maxPendingItems) {
      done(new OverloadedError(this.#pendingItems));
      return;
    }
    this.#pendingItems += items;
    fill(this.#batch);
    for (const change of changes) this.#changes.push(change);
    this.#callbacks.push(done);
    this.#schedule();
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.#inFlight !== undefined || this.#callbacks.length > 0) {
      if (this.#inFlight === undefined) this.#startWrite();
      await this.#inFlight;
    }
  }

  #schedule(): void {
    if (this.#isScheduled || this.#inFlight !== undefined) return;
    this.#isScheduled = true;
    setImmediate(this.#onTick);
  }

  readonly #onTick = (): void => {
    this.#isScheduled = false;
    if (this.#inFlight === undefined && this.#callbacks.length > 0) this.#startWrite();
  };

  #startWrite(): void {
    const batch = this.#batch;
    const changes = this.#changes;
    const callbacks = this.#callbacks;
    const items = this.#pendingItems;
    this.#batch = emptyBatch();
    this.#changes = [];
    this.#callbacks = [];
    const started = performance.now();
    this.#inFlight = this.#store.write(batch).then(
      () => {
        this.#finish(items, started, true);
        this.#stats.commits++;
        this.#stats.itemsCommitted += items;
        for (const change of changes) this.#bus.publish(change);
        for (const callback of callbacks) callback(undefined);
      },
      (error: unknown) => {
        this.#finish(items, started, false);
        this.#stats.failedCommits++;
        const failure = error instanceof Error ? error : new Error(String(error));
        this.#logger.error({ err: failure, items }, 'device data write failed; its senders get an error');
        for (const callback of callbacks) callback(failure);
      },
    );
  }

  #finish(items: number, started: number, isCommitted: boolean): void {
    const durationMs = performance.now() - started;
    this.#stats.lastCommitMs = durationMs;
    for (const observer of this.#observers) observer(durationMs, items, isCommitted);
    this.#pendingItems -= items;
    this.#inFlight = undefined;
    if (this.#callbacks.length > 0) this.#schedule();
  }
}
