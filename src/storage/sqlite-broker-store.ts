/**
 * The durable broker store: one SQLite file through better-sqlite3, WAL journal, every batch one transaction.
 *
 * Durability: with `synchronous: 'normal'` (default) a committed batch is in the WAL file when `apply` returns (or
 * `applyInBackground` resolves; its batches commit on a writer thread), so it survives a crash or kill -9 of the process; a power loss or OS crash may lose the last batches (never corrupt the
 * file), because the WAL is fsynced only at checkpoints. `synchronous: 'full'` fsyncs the WAL on every commit, so a
 * batch also survives power loss, at the cost of one fsync per `apply`.
 */
import Database from 'better-sqlite3';
import type { BrokerSnapshot, BrokerStore, StoreOp } from './broker-store.js';
import {
  toDelivery,
  toMessage,
  toSession,
  toSubscription,
  type DeliveryRow,
  type MessageRow,
  type SessionRow,
  type SubscriptionRow,
} from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { BrokerWriterThread } from './sqlite-broker-writer.js';
import {
  encodeStoreOps,
  prepareBatchWriter,
  readCounters,
  type EncodedOp,
  type StoreCounters,
} from './sqlite-broker-writes.js';

/** Options of `SqliteBrokerStore`. */
export interface SqliteBrokerStoreOptions {
  /** 'normal' (default): survives a process crash; 'full': also survives power loss (fsync per batch). */
  synchronous?: 'normal' | 'full';
  /**
   * Commit `applyInBackground` batches on a worker thread (default true for a file; sqlite-broker-writer.ts). False
   * commits them on the store's own connection, synchronously.
   */
  writerThread?: boolean;
}

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;

/** A broker store in one SQLite file (or `':memory:'`); see the module comment for durability. */
export class SqliteBrokerStore implements BrokerStore {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #writeBatch: (ops: readonly EncodedOp[], counters: StoreCounters) => StoreCounters;
  readonly #loadAll: () => BrokerSnapshot;
  /** Undefined for an in-memory database, which has no WAL. */
  readonly #checkpointer: WalCheckpointer | undefined;
  /** Undefined for an in-memory database or with `writerThread: false`. */
  readonly #writer: BrokerWriterThread | undefined;
  /** What this connection wrote to the `counters` row; moved only after a batch committed. */
  #counters: StoreCounters;

  /** Opens (creating if missing) the file; its directory must exist. Throws an Error naming the path on failure. */
  constructor(filePath: string, options: SqliteBrokerStoreOptions = {}) {
    let db: Database.Database | undefined;
    try {
      db = new Database(filePath, { timeout: busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      migrate(db);
    } catch (cause) {
      db?.close();
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new Error(`cannot open broker store "${filePath}": ${reason}`, { cause });
    }
    this.#db = db;
    this.#counters = readCounters(db);
    this.#writeBatch = prepareBatchWriter(db);
    this.#loadAll = this.#prepareLoad(db);
    const isFile = filePath !== ':memory:' && filePath !== '';
    const synchronous = options.synchronous ?? 'normal';
    // Checkpoints off the event loop: on the committing connection, the commit that crosses SQLite's 1,000-page
    // threshold copies the WAL into the file and fsyncs it while every socket waits (see wal-checkpointer.ts).
    this.#checkpointer = isFile ? new WalCheckpointer(db, filePath, { synchronous }) : undefined;
    this.#writer =
      isFile && options.writerThread !== false
        ? new BrokerWriterThread({ filePath, synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL', busyTimeoutMs })
        : undefined;
  }

  load(): BrokerSnapshot {
    return this.#loadAll();
  }

  apply(ops: readonly StoreOp[]): void {
    if (ops.length === 0) return;
    this.#applyEncoded(encodeStoreOps(ops));
  }

  applyInBackground(ops: readonly StoreOp[]): Promise<void> {
    try {
      if (ops.length === 0) return Promise.resolve();
      const encoded = encodeStoreOps(ops);
      if (this.#writer?.isAlive === true) return this.#writer.write(encoded);
      // No thread (or it died): this connection. The counters row stays monotonic whichever connection wrote last.
      this.#applyEncoded(encoded);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async close(): Promise<void> {
    await this.#writer?.stop();
    // The checkpointer's connection next: this one, closing last, checkpoints and removes the WAL.
    await this.#checkpointer?.stop();
    this.#db.close();
  }

  #applyEncoded(ops: readonly EncodedOp[]): void {
    // The counters move only once the batch committed; a failed batch leaves them (and the file) untouched.
    this.#counters = this.#writeBatch(ops, this.#counters);
  }

  /** Prepares the read statements and returns the load transaction (one consistent read after the orphan sweep). */
  #prepareLoad(db: Database.Database): () => BrokerSnapshot {
    // Retained rows carry their own message columns, so only deliveries keep a message row alive.
    const deleteOrphans = db.prepare('DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM deliveries)');
    const sessions = db.prepare<[], SessionRow>('SELECT * FROM sessions ORDER BY client_id');
    const subscriptions = db.prepare<[], SubscriptionRow>(
      'SELECT * FROM subscriptions ORDER BY client_id, topic_filter',
    );
    const deliveries = db.prepare<[], DeliveryRow>('SELECT * FROM deliveries ORDER BY client_id, seq');
    const incomingQos2 = db.prepare<[], { client_id: string; packet_id: number }>(
      'SELECT client_id, packet_id FROM incoming_qos2 ORDER BY client_id, packet_id',
    );
    const messages = db.prepare<[], MessageRow>('SELECT * FROM messages ORDER BY id');
    const retained = db.prepare<[], MessageRow>(
      'SELECT message_id AS id, topic_name, payload, qos, is_retained, properties, expires_at_ms, publisher_client_id FROM retained ORDER BY topic_name',
    );
    // The counters are authoritative; the table maxima only guard against a counters row older than its data.
    const maxima = db.prepare<[], { max_message_id: number; max_delivery_seq: number }>(
      `SELECT max(max_message_id, coalesce((SELECT max(id) FROM messages), 0), coalesce((SELECT max(message_id) FROM retained), 0)) AS max_message_id,
              max(max_delivery_seq, coalesce((SELECT max(seq) FROM deliveries), 0)) AS max_delivery_seq
       FROM counters WHERE id = 1`,
    );

    const load = db.transaction((): BrokerSnapshot => {
      deleteOrphans.run();
      const snapshot: BrokerSnapshot = {
        sessions: sessions.all().map(toSession),
        subscriptions: new Map(),
        deliveries: new Map(),
        incomingQos2: new Map(),
        messages: new Map(),
        retained: retained.all().map(toMessage),
        maxMessageId: 0,
        maxDeliverySeq: 0,
      };
      for (const row of subscriptions.iterate()) {
        listFor(snapshot.subscriptions, row.client_id).push(toSubscription(row));
      }
      for (const row of deliveries.iterate()) listFor(snapshot.deliveries, row.client_id).push(toDelivery(row));
      for (const row of incomingQos2.iterate()) listFor(snapshot.incomingQos2, row.client_id).push(row.packet_id);
      for (const row of messages.iterate()) snapshot.messages.set(row.id, toMessage(row));
      const max = maxima.get()!;
      snapshot.maxMessageId = max.max_message_id;
      snapshot.maxDeliverySeq = max.max_delivery_seq;
      return snapshot;
    });
    // IMMEDIATE: the sweep writes, so take the write lock up front rather than upgrade a read lock mid-way.
    return () => load.immediate();
  }
}

function listFor<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}
