/**
 * The durable broker store: one SQLite file through better-sqlite3, WAL journal, every batch one transaction.
 *
 * Durability: with `synchronous: 'normal'` (default) a committed batch is in the WAL file when `apply` returns, so it
 * survives a crash or kill -9 of the process; a power loss or OS crash may lose the last batches (never corrupt the
 * file), because the WAL is fsynced only at checkpoints. `synchronous: 'full'` fsyncs the WAL on every commit, so a
 * batch also survives power loss, at the cost of one fsync per `apply`.
 */
import Database from 'better-sqlite3';
import type { BrokerSnapshot, BrokerStore, StoreOp } from './broker-store.js';
import { encodeProperties } from './properties-json.js';
import {
  deliveryStateCode,
  messageColumns,
  toDelivery,
  toMessage,
  toSession,
  toSubscription,
  type DeliveryRow,
  type MessageColumns,
  type MessageRow,
  type SessionRow,
  type SubscriptionRow,
} from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';

/** Options of `SqliteBrokerStore`. */
export interface SqliteBrokerStoreOptions {
  /** 'normal' (default): survives a process crash; 'full': also survives power loss (fsync per batch). */
  synchronous?: 'normal' | 'full';
}

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;

type Statement<P extends unknown[]> = Database.Statement<P>;

/** A broker store in one SQLite file (or `':memory:'`); see the module comment for durability. */
export class SqliteBrokerStore implements BrokerStore {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #applyBatch: (ops: readonly StoreOp[]) => void;
  readonly #loadAll: () => BrokerSnapshot;
  /** Mirrors the `counters` row; updated only after a batch committed. */
  #maxMessageId = 0;
  #maxDeliverySeq = 0;

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
    const counters = db.prepare<[], { max_message_id: number; max_delivery_seq: number }>(
      'SELECT max_message_id, max_delivery_seq FROM counters WHERE id = 1',
    );
    const row = counters.get()!;
    this.#maxMessageId = row.max_message_id;
    this.#maxDeliverySeq = row.max_delivery_seq;
    this.#applyBatch = this.#prepareApply(db);
    this.#loadAll = this.#prepareLoad(db);
  }

  load(): BrokerSnapshot {
    return this.#loadAll();
  }

  apply(ops: readonly StoreOp[]): void {
    this.#applyBatch(ops);
  }

  close(): void {
    this.#db.close();
  }

  /** Prepares every write statement once and returns the batch transaction. */
  #prepareApply(db: Database.Database): (ops: readonly StoreOp[]) => void {
    const putSession: Statement<
      [
        string,
        number,
        number,
        number | null,
        string | null,
        Buffer | null,
        number | null,
        number | null,
        string | null,
        number | null,
      ]
    > = db.prepare('INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const deleteSession: Statement<[string]> = db.prepare('DELETE FROM sessions WHERE client_id = ?');
    const deleteClientSubscriptions: Statement<[string]> = db.prepare('DELETE FROM subscriptions WHERE client_id = ?');
    const deleteClientDeliveries: Statement<[string]> = db.prepare('DELETE FROM deliveries WHERE client_id = ?');
    const deleteClientIncomingQos2: Statement<[string]> = db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ?');
    const putSubscription: Statement<[string, string, number, number, number, number, number, string | null]> =
      db.prepare('INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const deleteSubscription: Statement<[string, string]> = db.prepare(
      'DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?',
    );
    const putMessage: Statement<MessageColumns> = db.prepare(
      'INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const deleteMessage: Statement<[number]> = db.prepare('DELETE FROM messages WHERE id = ?');
    // An upsert, not INSERT OR REPLACE: a delivery is written again when it is sent and when it is released, and
    // REPLACE would delete and re-insert the row each time where an upsert updates it in place.
    const putDelivery: Statement<[string, number, number, number, number, number, string, number]> = db.prepare(
      `INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (client_id, seq) DO UPDATE SET message_id = excluded.message_id, qos = excluded.qos,
         packet_id = excluded.packet_id, state = excluded.state, subscription_ids = excluded.subscription_ids,
         is_retained = excluded.is_retained`,
    );
    const deleteDelivery: Statement<[string, number]> = db.prepare(
      'DELETE FROM deliveries WHERE client_id = ? AND seq = ?',
    );
    const putIncomingQos2: Statement<[string, number]> = db.prepare(
      // Not OR IGNORE: that would also skip a CHECK violation. DO NOTHING covers only the primary key.
      'INSERT INTO incoming_qos2 VALUES (?, ?) ON CONFLICT DO NOTHING',
    );
    const deleteIncomingQos2: Statement<[string, number]> = db.prepare(
      'DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?',
    );
    // Columns in the order of `messages`; the topic name is the key.
    const putRetained: Statement<MessageColumns> = db.prepare(
      'INSERT OR REPLACE INTO retained (message_id, topic_name, payload, qos, is_retained, properties, expires_at_ms, publisher_client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const deleteRetained: Statement<[string]> = db.prepare('DELETE FROM retained WHERE topic_name = ?');
    const putCounters: Statement<[number, number]> = db.prepare(
      'UPDATE counters SET max_message_id = ?, max_delivery_seq = ? WHERE id = 1',
    );

    const transaction = db.transaction((ops: readonly StoreOp[]): [number, number] => {
      let maxMessageId = this.#maxMessageId;
      let maxDeliverySeq = this.#maxDeliverySeq;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        switch (op.op) {
          case 'putSession': {
            const { session } = op;
            const will = session.will;
            putSession.run(
              session.clientId,
              session.protocolVersion,
              session.sessionExpiryIntervalSeconds,
              session.disconnectedAtMs,
              will === undefined ? null : will.topicName,
              will === undefined ? null : will.payload,
              will === undefined ? null : will.qos,
              will === undefined ? null : will.isRetained ? 1 : 0,
              will === undefined ? null : encodeProperties(will.properties),
              will === undefined ? null : will.delaySeconds,
            );
            break;
          }
          case 'deleteSession':
            deleteSession.run(op.clientId);
            deleteClientSubscriptions.run(op.clientId);
            deleteClientDeliveries.run(op.clientId);
            deleteClientIncomingQos2.run(op.clientId);
            break;
          case 'putSubscription': {
            const { subscription } = op;
            putSubscription.run(
              op.clientId,
              subscription.topicFilter,
              subscription.qos,
              subscription.noLocal ? 1 : 0,
              subscription.retainAsPublished ? 1 : 0,
              subscription.retainHandling,
              subscription.subscriptionId,
              subscription.guard ?? null,
            );
            break;
          }
          case 'deleteSubscription':
            deleteSubscription.run(op.clientId, op.topicFilter);
            break;
          case 'putMessage': {
            const { message } = op;
            putMessage.run(...messageColumns(message.topicName, message));
            if (message.id > maxMessageId) maxMessageId = message.id;
            break;
          }
          case 'deleteMessage':
            deleteMessage.run(op.id);
            break;
          case 'putDelivery': {
            const { delivery } = op;
            putDelivery.run(
              delivery.clientId,
              delivery.seq,
              delivery.messageId,
              delivery.qos,
              delivery.packetId,
              deliveryStateCode(delivery.state),
              delivery.subscriptionIds.join(','),
              delivery.isRetained ? 1 : 0,
            );
            if (delivery.seq > maxDeliverySeq) maxDeliverySeq = delivery.seq;
            break;
          }
          case 'deleteDelivery':
            deleteDelivery.run(op.clientId, op.seq);
            break;
          case 'putIncomingQos2':
            putIncomingQos2.run(op.clientId, op.packetId);
            break;
          case 'deleteIncomingQos2':
            deleteIncomingQos2.run(op.clientId, op.packetId);
            break;
          case 'putRetained': {
            const { message } = op;
            putRetained.run(...messageColumns(op.topicName, message));
            if (message.id > maxMessageId) maxMessageId = message.id;
            break;
          }
          case 'deleteRetained':
            deleteRetained.run(op.topicName);
            break;
          default:
            throw new TypeError(`unknown store op ${JSON.stringify((op as { op: unknown }).op)}`);
        }
      }
      if (maxMessageId !== this.#maxMessageId || maxDeliverySeq !== this.#maxDeliverySeq) {
        putCounters.run(maxMessageId, maxDeliverySeq);
      }
      return [maxMessageId, maxDeliverySeq];
    });

    return (ops) => {
      if (ops.length === 0) return;
      // The counters move only once the batch committed; a failed batch leaves them (and the file) untouched.
      [this.#maxMessageId, this.#maxDeliverySeq] = transaction(ops);
    };
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
