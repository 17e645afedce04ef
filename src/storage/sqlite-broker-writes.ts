/**
 * The SQLite broker store's writes, shared by the store's own connection and its writer thread
 * (sqlite-broker-writer.ts). A `StoreOp` is first encoded into an `EncodedOp`: the statement to run and its bind
 * values, plain data that crosses a thread boundary by structured clone (a `Buffer` arrives as a `Uint8Array`, which
 * binds as the same BLOB). Encoding happens on the caller's thread and before anything is written, so an op that
 * cannot be encoded fails its whole batch and nothing of it is applied.
 */
import type Database from 'better-sqlite3';
import type { StoreOp } from './broker-store.js';
import { encodeProperties } from './properties-json.js';
import { deliveryStateCode, messageColumns } from './sqlite-rows.js';

type SqlParam = string | number | null | Uint8Array;

/** Which statement an encoded op runs; the index into the statement list of `prepareBatchWriter`. */
const Write = {
  putSession: 0,
  deleteSession: 1,
  putSubscription: 2,
  deleteSubscription: 3,
  putMessage: 4,
  deleteMessage: 5,
  putDelivery: 6,
  deleteDelivery: 7,
  putIncomingQos2: 8,
  deleteIncomingQos2: 9,
  putRetained: 10,
  deleteRetained: 11,
} as const;

/** `[statement, bind values]`. */
export type EncodedOp = readonly [number, SqlParam[]];

/** The highest message id and delivery seq written so far; the `counters` row, which never goes backwards. */
export interface StoreCounters {
  maxMessageId: number;
  maxDeliverySeq: number;
}

/** Encodes one op; throws a TypeError for an op the store does not know. */
export function encodeStoreOp(op: StoreOp): EncodedOp {
  switch (op.op) {
    case 'putSession': {
      const { session } = op;
      const will = session.will;
      return [
        Write.putSession,
        [
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
        ],
      ];
    }
    case 'deleteSession':
      return [Write.deleteSession, [op.clientId]];
    case 'putSubscription': {
      const { subscription } = op;
      return [
        Write.putSubscription,
        [
          op.clientId,
          subscription.topicFilter,
          subscription.qos,
          subscription.noLocal ? 1 : 0,
          subscription.retainAsPublished ? 1 : 0,
          subscription.retainHandling,
          subscription.subscriptionId,
          subscription.guard ?? null,
        ],
      ];
    }
    case 'deleteSubscription':
      return [Write.deleteSubscription, [op.clientId, op.topicFilter]];
    case 'putMessage':
      return [Write.putMessage, messageColumns(op.message.topicName, op.message)];
    case 'deleteMessage':
      return [Write.deleteMessage, [op.id]];
    case 'putDelivery': {
      const { delivery } = op;
      return [
        Write.putDelivery,
        [
          delivery.clientId,
          delivery.seq,
          delivery.messageId,
          delivery.qos,
          delivery.packetId,
          deliveryStateCode(delivery.state),
          delivery.subscriptionIds.join(','),
          delivery.isRetained ? 1 : 0,
        ],
      ];
    }
    case 'deleteDelivery':
      return [Write.deleteDelivery, [op.clientId, op.seq]];
    case 'putIncomingQos2':
      return [Write.putIncomingQos2, [op.clientId, op.packetId]];
    case 'deleteIncomingQos2':
      return [Write.deleteIncomingQos2, [op.clientId, op.packetId]];
    case 'putRetained':
      return [Write.putRetained, messageColumns(op.topicName, op.message)];
    case 'deleteRetained':
      return [Write.deleteRetained, [op.topicName]];
    default:
      throw new TypeError(`unknown store op ${JSON.stringify((op as { op: unknown }).op)}`);
  }
}

/** Encodes a batch; throws (encoding nothing) if any op cannot be encoded. */
export function encodeStoreOps(ops: readonly StoreOp[]): EncodedOp[] {
  const encoded = new Array<EncodedOp>(ops.length);
  for (let i = 0; i < ops.length; i++) encoded[i] = encodeStoreOp(ops[i]!);
  return encoded;
}

/** Reads the `counters` row. */
export function readCounters(db: Database.Database): StoreCounters {
  const row = db
    .prepare<[], { max_message_id: number; max_delivery_seq: number }>(
      'SELECT max_message_id, max_delivery_seq FROM counters WHERE id = 1',
    )
    .get()!;
  return { maxMessageId: row.max_message_id, maxDeliverySeq: row.max_delivery_seq };
}

/**
 * Prepares every write statement on `db` once and returns the batch transaction: applies the encoded ops in order
 * and returns the counters after them (the `counters` row is written only when they moved). A failing op rolls the
 * whole batch back; the caller's counters are then unchanged.
 */
export function prepareBatchWriter(
  db: Database.Database,
): (ops: readonly EncodedOp[], counters: StoreCounters) => StoreCounters {
  // Indexed by `Write`: statements of a batch are looked up by number, not by name.
  const statements: Database.Statement<SqlParam[]>[] = [
    db.prepare('INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    // deleteSession: its subscriptions, deliveries and QoS 2 ids go with it (runDeleteSession below).
    db.prepare('DELETE FROM sessions WHERE client_id = ?'),
    db.prepare('INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?'),
    db.prepare('INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    db.prepare('DELETE FROM messages WHERE id = ?'),
    // An upsert, not INSERT OR REPLACE: a delivery is written again when it is sent and when it is released, and
    // REPLACE would delete and re-insert the row each time where an upsert updates it in place.
    db.prepare(
      `INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (client_id, seq) DO UPDATE SET message_id = excluded.message_id, qos = excluded.qos,
         packet_id = excluded.packet_id, state = excluded.state, subscription_ids = excluded.subscription_ids,
         is_retained = excluded.is_retained`,
    ),
    db.prepare('DELETE FROM deliveries WHERE client_id = ? AND seq = ?'),
    // Not OR IGNORE: that would also skip a CHECK violation. DO NOTHING covers only the primary key.
    db.prepare('INSERT INTO incoming_qos2 VALUES (?, ?) ON CONFLICT DO NOTHING'),
    db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
    // Columns in the order of `messages`; the topic name is the key.
    db.prepare(
      'INSERT OR REPLACE INTO retained (message_id, topic_name, payload, qos, is_retained, properties, expires_at_ms, publisher_client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    db.prepare('DELETE FROM retained WHERE topic_name = ?'),
  ];
  const deleteClientRows = [
    db.prepare<[string]>('DELETE FROM subscriptions WHERE client_id = ?'),
    db.prepare<[string]>('DELETE FROM deliveries WHERE client_id = ?'),
    db.prepare<[string]>('DELETE FROM incoming_qos2 WHERE client_id = ?'),
  ];
  // max(): the store's connection and its writer thread each know only their own batches; the row keeps the highest.
  const putCounters = db.prepare<[number, number]>(
    'UPDATE counters SET max_message_id = max(max_message_id, ?), max_delivery_seq = max(max_delivery_seq, ?) WHERE id = 1',
  );

  return db.transaction((ops: readonly EncodedOp[], counters: StoreCounters): StoreCounters => {
    let { maxMessageId, maxDeliverySeq } = counters;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const [write, values] = op;
      const statement = statements[write];
      if (statement === undefined) throw new TypeError(`unknown encoded store op ${String(write)}`);
      statement.run(...values);
      switch (write) {
        case Write.deleteSession:
          for (const deleteRows of deleteClientRows) deleteRows.run(values[0] as string);
          break;
        case Write.putMessage:
        case Write.putRetained: {
          const id = values[0] as number;
          if (id > maxMessageId) maxMessageId = id;
          break;
        }
        case Write.putDelivery: {
          const seq = values[1] as number;
          if (seq > maxDeliverySeq) maxDeliverySeq = seq;
          break;
        }
      }
    }
    if (maxMessageId !== counters.maxMessageId || maxDeliverySeq !== counters.maxDeliverySeq) {
      putCounters.run(maxMessageId, maxDeliverySeq);
    }
    return { maxMessageId, maxDeliverySeq };
  });
}
