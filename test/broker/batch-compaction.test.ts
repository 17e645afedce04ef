/**
 * Batch compaction drops writes a later write of the same batch makes pointless, and never changes what the store
 * holds after the batch: checked on examples and, for arbitrary batches, against the memory store.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import '../helpers/fast-check-seed.js';
import { compactBatch } from '../../src/broker/batch-compaction.js';
import { MemoryBrokerStore, type BrokerSnapshot, type StoreOp } from '../../src/storage/index.js';
import { delivery, message, put, putDelivery, retain, session, subscription } from '../storage/store-fixtures.js';

describe('batch compaction', () => {
  test('a QoS 1 message stored, sent and acknowledged within one batch leaves only its delivery delete', () => {
    const ops: StoreOp[] = [
      put(message(7)),
      putDelivery(delivery('a', 3, 7)),
      putDelivery(delivery('a', 3, 7, { state: 'sent', packetId: 1 })),
      { op: 'deleteDelivery', clientId: 'a', seq: 3 },
      { op: 'deleteMessage', id: 7 },
    ];
    assert.deepEqual(compactBatch(ops), [{ op: 'deleteDelivery', clientId: 'a', seq: 3 }]);
  });

  test('a delivery sent in this batch but stored in an earlier one keeps its latest state', () => {
    const sent = putDelivery(delivery('a', 3, 7, { state: 'sent', packetId: 1 }));
    const released = putDelivery(delivery('a', 3, 7, { qos: 2, state: 'released', packetId: 1 }));
    assert.deepEqual(compactBatch([sent, released]), [released]);
  });

  test('a message deleted here but stored in an earlier batch is still deleted', () => {
    const ops: StoreOp[] = [{ op: 'deleteMessage', id: 7 }];
    assert.equal(compactBatch(ops), ops);
  });

  test('writes around a session delete stay in order, and only the put a later put replaces goes', () => {
    const ops: StoreOp[] = [
      put(session('a')),
      { op: 'putSubscription', clientId: 'a', subscription: subscription('x/#') },
      { op: 'deleteSession', clientId: 'a' },
      put(session('a', { sessionExpiryIntervalSeconds: 9 })),
    ];
    assert.deepEqual(compactBatch(ops), ops.slice(1));
  });

  test('a batch with nothing to drop is returned as it is', () => {
    const ops: StoreOp[] = [put(message(1)), putDelivery(delivery('a', 1, 1)), retain(message(2, { topicName: 'r' }))];
    assert.equal(compactBatch(ops), ops);
  });

  test('for arbitrary batches, the store holds the same rows after the compacted batch as after the whole one', () => {
    fc.assert(
      fc.property(arbitraryHistory(), ({ before, batch }) => {
        const whole = new MemoryBrokerStore();
        const compacted = new MemoryBrokerStore();
        whole.apply(before);
        compacted.apply(before);
        whole.apply(batch);
        compacted.apply(compactBatch(batch));
        const expected = whole.load();
        const actual = compacted.load();
        assert.deepEqual(rows(actual), rows(expected));
        // Ids of rows that were never written need not move the counters; those of rows that exist do.
        assert.ok(actual.maxMessageId <= expected.maxMessageId && actual.maxDeliverySeq <= expected.maxDeliverySeq);
        for (const id of actual.messages.keys()) assert.ok(id <= actual.maxMessageId);
      }),
      { numRuns: 400 },
    );
  });
});

/** The rows of a snapshot in a fixed order (stores need not keep insertion order). */
function rows(snapshot: BrokerSnapshot): unknown {
  const byKey = <V>(map: Map<string, V[]>, order: (a: V, b: V) => number) =>
    [...map.entries()]
      .filter(([, list]) => list.length > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, list]) => [key, [...list].sort(order)]);
  return {
    sessions: [...snapshot.sessions].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)),
    subscriptions: byKey(snapshot.subscriptions, (a, b) => (a.topicFilter < b.topicFilter ? -1 : 1)),
    deliveries: byKey(snapshot.deliveries, (a, b) => a.seq - b.seq),
    incomingQos2: byKey(snapshot.incomingQos2, (a, b) => a - b),
    messages: [...snapshot.messages.entries()].sort(([a], [b]) => a - b),
    retained: [...snapshot.retained].sort((a, b) => (a.topicName < b.topicName ? -1 : 1)),
  };
}

/**
 * A batch of writes over a few clients, topics and ids, after an earlier batch. As the broker does, a message id is
 * put at most once ever (ids are never reused); everything else may be written any number of times, in any order.
 */
function arbitraryHistory(): fc.Arbitrary<{ before: StoreOp[]; batch: StoreOp[] }> {
  const client = fc.constantFrom('a', 'b');
  const seq = fc.integer({ min: 1, max: 4 });
  const small = fc.integer({ min: 1, max: 3 });
  const anyOp = (messageId: fc.Arbitrary<number>): fc.Arbitrary<StoreOp> =>
    fc.oneof(
      fc.tuple(client, small).map(([c, expiry]) => put(session(c, { sessionExpiryIntervalSeconds: expiry }))),
      client.map((clientId): StoreOp => ({ op: 'deleteSession', clientId })),
      fc
        .tuple(client, fc.constantFrom('x/#', 'y'), fc.constantFrom(0 as const, 1 as const))
        .map(([clientId, filter, qos]): StoreOp => ({
          op: 'putSubscription',
          clientId,
          subscription: subscription(filter, { qos }),
        })),
      fc
        .tuple(client, fc.constantFrom('x/#', 'y'))
        .map(([clientId, topicFilter]): StoreOp => ({ op: 'deleteSubscription', clientId, topicFilter })),
      fc
        .tuple(client, seq, small, fc.constantFrom('queued' as const, 'sent' as const))
        .map(([c, s, m, state]) => putDelivery(delivery(c, s, m, { state, packetId: state === 'sent' ? s : 0 }))),
      fc.tuple(client, seq).map(([clientId, s]): StoreOp => ({ op: 'deleteDelivery', clientId, seq: s })),
      messageId.map((id): StoreOp => ({ op: 'deleteMessage', id })),
      fc.tuple(client, small).map(([clientId, packetId]): StoreOp => ({ op: 'putIncomingQos2', clientId, packetId })),
      fc
        .tuple(client, small)
        .map(([clientId, packetId]): StoreOp => ({ op: 'deleteIncomingQos2', clientId, packetId })),
      fc.tuple(fc.constantFrom('r1', 'r2'), small).map(([topicName, id]) => retain(message(100 + id, { topicName }))),
      fc.constantFrom('r1', 'r2').map((topicName): StoreOp => ({ op: 'deleteRetained', topicName })),
    );
  // Message ids 1-3 are put in the earlier batch, 4-6 may be put in this one; deletes may name any of them.
  const withMessagePuts = (ids: number[], others: StoreOp[], at: number[]): StoreOp[] => {
    const ops = [...others];
    ids.forEach((id, index) => ops.splice(Math.min(at[index] ?? 0, ops.length), 0, put(message(id))));
    return ops;
  };
  const batchOf = (ids: number[]) =>
    fc
      .tuple(
        fc.array(anyOp(fc.integer({ min: 1, max: 6 })), { maxLength: 14 }),
        fc.array(fc.integer({ min: 0, max: 14 }), { minLength: ids.length, maxLength: ids.length }),
      )
      .map(([others, at]) => withMessagePuts(ids, others, at));
  return fc
    .tuple(fc.subarray([1, 2, 3]), fc.subarray([4, 5, 6]))
    .chain(([earlier, later]) => fc.record({ before: batchOf(earlier), batch: batchOf(later) }));
}
