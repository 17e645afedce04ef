/**
 * Group commit for device data: everything posted during one turn of the event loop goes to the store in one
 * `write` (one transaction), and each poster's callback runs only after that write returned, so a QoS 1 PUBACK or an
 * HTTP 200 never promises data the store does not hold. One write is in flight at a time; what arrives meanwhile
 * forms the next batch (PostgreSQL answers asynchronously, so batches grow under load instead of queries piling up).
 * Committed changes then go to the bus in commit order.
 *
 * The store judges events and event modifications one by one (`WriteOutcome`): a post whose event id was taken or
 * whose modification did not apply gets that error, every other post of the batch is committed as usual. Which post
 * an item belongs to is kept as end offsets into the batch's lists (no object per post), and the bus hears of the
 * events the store actually wrote, so their changes are made here from the outcome rather than by the poster. A
 * device deleted while its data waited fails the store's write as a whole; only its own posts are refused then, and
 * the others are posted again ahead of what arrived meanwhile.
 */
import type { Logger } from 'pino';
import {
  DuplicateError,
  EventModificationError,
  UnknownDeviceError,
  type DataBatch,
  type PlatformStore,
  type WriteOutcome,
} from '../storage/platform-store.js';
import type { StateChangeBus } from './bus.js';
import type { DeviceEvent, StateChange } from './model.js';

/**
 * Called once the data it was given for is committed (`error` undefined) or definitely not stored. A post of several
 * events is judged per event: `error` is then the first refusal and the others were stored. `modified` lists the
 * events as stored after the post's modifications, when it made any that applied.
 */
export type CommitCallback = (error: Error | undefined, modified?: readonly DeviceEvent[]) => void;

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
  return { telemetry: [], attributes: [], attributeDeletes: [], events: [], eventModifications: [] };
}

/**
 * The posts of one batch: callbacks and, per post, where its changes, events and modifications end, plus what it added
 * (`fills`, `items`) so that it can be posted again when another post's device turned out to be gone.
 */
interface Posts {
  callbacks: CommitCallback[];
  changeEnds: number[];
  eventEnds: number[];
  modificationEnds: number[];
  fills: ((batch: DataBatch) => void)[];
  items: number[];
}

function noPosts(): Posts {
  return { callbacks: [], changeEnds: [], eventEnds: [], modificationEnds: [], fills: [], items: [] };
}

/** Whether anything `batch` holds is data of one of `deviceIds`. */
function namesAnyDevice(batch: DataBatch, deviceIds: ReadonlySet<string>): boolean {
  return (
    batch.telemetry.some((t) => deviceIds.has(t.deviceId)) ||
    batch.attributes.some((a) => deviceIds.has(a.deviceId)) ||
    batch.attributeDeletes.some((a) => deviceIds.has(a.deviceId)) ||
    batch.events.some((e) => deviceIds.has(e.deviceId)) ||
    (batch.eventModifications ?? []).some((m) => deviceIds.has(m.deviceId))
  );
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
  #posts = noPosts();
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
   * bound; past it the callback gets an OverloadedError at once and nothing is queued. Events and modifications
   * `fill` adds need no changes here: the writer announces those the store wrote.
   */
  enqueue(items: number, fill: (batch: DataBatch) => void, changes: StateChange[], done: CommitCallback): void {
    if (this.#pendingItems + items > this.#maxPendingItems) {
      done(new OverloadedError(this.#pendingItems));
      return;
    }
    this.#pendingItems += items;
    const batch = this.#batch;
    fill(batch);
    for (const change of changes) this.#changes.push(change);
    const posts = this.#posts;
    posts.callbacks.push(done);
    posts.changeEnds.push(this.#changes.length);
    posts.eventEnds.push(batch.events.length);
    posts.modificationEnds.push(batch.eventModifications?.length ?? 0);
    posts.fills.push(fill);
    posts.items.push(items);
    this.#schedule();
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.#inFlight !== undefined || this.#posts.callbacks.length > 0) {
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
    if (this.#inFlight === undefined && this.#posts.callbacks.length > 0) this.#startWrite();
  };

  #startWrite(): void {
    const batch = this.#batch;
    const changes = this.#changes;
    const posts = this.#posts;
    const callbacks = posts.callbacks;
    const items = this.#pendingItems;
    this.#batch = emptyBatch();
    this.#changes = [];
    this.#posts = noPosts();
    const started = performance.now();
    this.#inFlight = this.#store.write(batch).then(
      (outcome) => {
        this.#finish(items, started, true);
        this.#stats.commits++;
        this.#stats.itemsCommitted += items;
        if (batch.events.length === 0 && outcome.modifications.length === 0) {
          // Telemetry and attributes only: nothing was judged per item.
          for (const change of changes) this.#bus.publish(change);
          for (const callback of callbacks) callback(undefined);
        } else {
          this.#settlePerItem(batch, outcome, changes, posts);
        }
      },
      (error: unknown) => {
        this.#finish(items, started, false);
        this.#stats.failedCommits++;
        if (error instanceof UnknownDeviceError && this.#postAgainWithout(error, posts, changes)) return;
        const failure = error instanceof Error ? error : new Error(String(error));
        this.#logger.error({ err: failure, items }, 'device data write failed; its senders get an error');
        for (const callback of callbacks) callback(failure);
      },
    );
  }

  /**
   * A device of the batch was deleted while its data waited (the store wrote nothing): its posts get the error, every
   * other post goes into the next batch as it was posted, so one deletion never refuses other devices' data. False
   * (nothing posted again) when no post names the devices the store reported, so a wrong report cannot loop.
   */
  #postAgainWithout(error: UnknownDeviceError, posts: Posts, changes: StateChange[]): boolean {
    const gone = new Set(error.deviceIds);
    const { callbacks, changeEnds, fills, items } = posts;
    const isGone = fills.map((fill) => {
      const probe = emptyBatch();
      fill(probe);
      return namesAnyDevice(probe, gone);
    });
    if (!isGone.includes(true)) return false;
    this.#logger.info(
      { deviceIds: error.deviceIds },
      'devices deleted while their data waited; the rest is posted again',
    );
    // The posts that arrived during the failed write go after the ones posted again, so each device keeps its order.
    const waiting = this.#posts;
    const waitingChanges = this.#changes;
    this.#batch = emptyBatch();
    this.#changes = [];
    this.#posts = noPosts();
    for (const count of waiting.items) this.#pendingItems -= count;
    for (let p = 0; p < callbacks.length; p++) {
      if (isGone[p]) callbacks[p]!(error);
      else
        this.enqueue(
          items[p]!,
          fills[p]!,
          changes.slice(p === 0 ? 0 : changeEnds[p - 1], changeEnds[p]),
          callbacks[p]!,
        );
    }
    for (let q = 0; q < waiting.callbacks.length; q++) {
      const ownChanges = waitingChanges.slice(q === 0 ? 0 : waiting.changeEnds[q - 1], waiting.changeEnds[q]);
      this.enqueue(waiting.items[q]!, waiting.fills[q]!, ownChanges, waiting.callbacks[q]!);
    }
    return true;
  }

  /** Announces what the store wrote, in post order, then tells each post its own outcome. */
  #settlePerItem(batch: DataBatch, outcome: WriteOutcome, changes: StateChange[], posts: Posts): void {
    const { callbacks, changeEnds, eventEnds, modificationEnds } = posts;
    const errors = new Array<Error | undefined>(callbacks.length);
    const modified = new Array<DeviceEvent[] | undefined>(callbacks.length);
    const duplicates = outcome.duplicateEvents;
    const modifications = batch.eventModifications ?? [];
    let c = 0;
    let e = 0;
    let d = 0;
    let m = 0;
    for (let p = 0; p < callbacks.length; p++) {
      for (; c < changeEnds[p]!; c++) this.#bus.publish(changes[c]!);
      for (; e < eventEnds[p]!; e++) {
        if (d < duplicates.length && duplicates[d] === e) {
          d++;
          errors[p] ??= new DuplicateError('event id');
          continue;
        }
        const event = batch.events[e]!;
        this.#bus.publish({ kind: 'event', orgId: event.orgId, deviceId: event.deviceId, event });
      }
      for (; m < modificationEnds[p]!; m++) {
        const modification = modifications[m]!;
        const result = outcome.modifications[m]!;
        if ('refused' in result) {
          errors[p] ??= new EventModificationError(modification.id, result.refused);
          continue;
        }
        const event = result.applied;
        this.#bus.publish({ kind: 'event', orgId: event.orgId, deviceId: event.deviceId, event });
        if (modification.telemetryKey !== undefined && event.data !== null) {
          const { orgId, deviceId, at: ts, data: value } = event;
          this.#bus.publish({ kind: 'telemetry', orgId, deviceId, key: modification.telemetryKey, ts, value });
        }
        (modified[p] ??= []).push(event);
      }
    }
    for (let p = 0; p < callbacks.length; p++) callbacks[p]!(errors[p], modified[p]);
  }

  #finish(items: number, started: number, isCommitted: boolean): void {
    const durationMs = performance.now() - started;
    this.#stats.lastCommitMs = durationMs;
    for (const observer of this.#observers) observer(durationMs, items, isCommitted);
    this.#pendingItems -= items;
    this.#inFlight = undefined;
    if (this.#posts.callbacks.length > 0) this.#schedule();
  }
}
