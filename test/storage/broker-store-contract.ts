/**
 * The contract every `BrokerStore` implementation passes. Importing this file registers nothing: each
 * implementation's test file calls `runBrokerStoreContract`. Only the order of deliveries (by seq) is contracted: the
 * other lists are sorted before comparing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import '../helpers/fast-check-seed.js';
import type { BrokerStore, StoreOp } from '../../src/storage/index.js';
import { arbitraryMessage } from './store-arbitraries.js';
import {
  counters,
  delivery,
  emptySnapshot,
  message,
  put,
  putDelivery,
  retain,
  session,
  sortedRetained,
  sortedSessions,
  sortedSubscriptions,
  structuredCopy,
  subscription,
} from './store-fixtures.js';

/** Closes `store` and opens the same storage again (durable implementations only). */
export type ReopenBrokerStore = (store: BrokerStore) => Promise<BrokerStore>;

/** Registers the contract tests for one implementation. */
export function runBrokerStoreContract(name: string, create: () => BrokerStore, reopen?: ReopenBrokerStore): void {
  /** Runs `body` with a new store and closes whatever store it ends with. */
  async function withStore(
    body: (store: BrokerStore) => BrokerStore | undefined | Promise<BrokerStore | undefined>,
  ): Promise<void> {
    let store = create();
    try {
      store = (await body(store)) ?? store;
    } finally {
      await store.close();
    }
  }

  describe(`BrokerStore contract: ${name}`, () => {
    test('a new store loads an empty snapshot with zero counters', () =>
      withStore((store) => {
        assert.deepEqual(store.load(), emptySnapshot());
      }));

    test('an empty batch is accepted and changes nothing', () =>
      withStore((store) => {
        store.apply([]);
        assert.deepEqual(store.load(), emptySnapshot());
      }));

    test('a session round-trips with its will, v5 properties and user property order', () =>
      withStore((store) => {
        const withWill = session('a', {
          will: {
            topicName: 'devices/a/status',
            payload: Buffer.from([0, 1, 2, 255]),
            qos: 2,
            isRetained: true,
            properties: {
              contentType: 'text/plain',
              correlationData: Buffer.from([9, 0, 9]),
              userProperties: [
                ['k', '2'],
                ['k', '1'],
                ['a', ''],
              ],
            },
            delaySeconds: 30,
          },
        });
        const v3 = session('b', {
          protocolVersion: 4,
          sessionExpiryIntervalSeconds: 0xffffffff,
          disconnectedAtMs: null,
        });
        const emptyWill = session('c', {
          will: {
            topicName: 't',
            payload: Buffer.alloc(0),
            qos: 0,
            isRetained: false,
            properties: {},
            delaySeconds: 0,
          },
        });
        store.apply([put(withWill), put(v3), put(emptyWill)]);
        assert.deepEqual(sortedSessions(store.load()), [withWill, v3, emptyWill]);
      }));

    test('putSession replaces the session with the same client id', () =>
      withStore((store) => {
        store.apply([put(session('a', { sessionExpiryIntervalSeconds: 10 }))]);
        const replacement = session('a', { sessionExpiryIntervalSeconds: 20, disconnectedAtMs: 1_700_000_000_000 });
        store.apply([put(replacement)]);
        assert.deepEqual(store.load().sessions, [replacement]);
      }));

    test('subscriptions round-trip per client; putSubscription replaces by topic filter', () =>
      withStore((store) => {
        const first = subscription('sensors/+/temp', { qos: 1 });
        const hash = subscription('#', {
          noLocal: true,
          retainAsPublished: true,
          retainHandling: 2,
          subscriptionId: 268_435_455,
        });
        store.apply([
          { op: 'putSubscription', clientId: 'a', subscription: first },
          { op: 'putSubscription', clientId: 'a', subscription: hash },
          { op: 'putSubscription', clientId: 'b', subscription: first },
        ]);
        const replaced = subscription('sensors/+/temp', { qos: 2, retainHandling: 1, subscriptionId: 7 });
        store.apply([{ op: 'putSubscription', clientId: 'a', subscription: replaced }]);
        const { subscriptions } = store.load();
        assert.deepEqual(
          sortedSubscriptions(subscriptions),
          new Map([
            ['a', [hash, replaced]],
            ['b', [first]],
          ]),
        );
      }));

    test('a subscription keeps its delivery guard; one without a guard loads without one', () =>
      withStore((store) => {
        const guarded = { ...subscription('+/data/#', { qos: 1 }), guard: 'cp:device-1' };
        const plain = subscription('plain/#');
        store.apply([
          { op: 'putSubscription', clientId: 'a', subscription: guarded },
          { op: 'putSubscription', clientId: 'a', subscription: plain },
        ]);
        const loaded = store.load().subscriptions.get('a') ?? [];
        assert.deepEqual(
          [...loaded].sort((x, y) => x.topicFilter.localeCompare(y.topicFilter)),
          [guarded, plain],
        );
        assert.equal('guard' in loaded.find((s) => s.topicFilter === 'plain/#')!, false);
      }));

    test('deleteSubscription removes one filter of one client', () =>
      withStore((store) => {
        store.apply([
          { op: 'putSubscription', clientId: 'a', subscription: subscription('x') },
          { op: 'putSubscription', clientId: 'a', subscription: subscription('y') },
          { op: 'putSubscription', clientId: 'b', subscription: subscription('x') },
        ]);
        store.apply([
          { op: 'deleteSubscription', clientId: 'a', topicFilter: 'x' },
          { op: 'deleteSubscription', clientId: 'b', topicFilter: 'x' },
          { op: 'deleteSubscription', clientId: 'nobody', topicFilter: 'x' },
        ]);
        assert.deepEqual(store.load().subscriptions, new Map([['a', [subscription('y')]]]));
      }));

    test('a message round-trips exactly: payload bytes, absent or empty properties, every forwardable property', () =>
      withStore((store) => {
        const messages = [
          message(1, { payload: Buffer.alloc(0), properties: undefined }),
          message(2, { payload: Buffer.from([0, 0xff, 0x80, 0]), properties: {} }),
          message(3, {
            topicName: 'zürich/🌡/\u0000',
            qos: 2,
            isRetained: true,
            expiresAtMs: 8_640_000_000_000_000,
            publisherClientId: '',
            properties: {
              payloadFormatIndicator: 1,
              messageExpiryInterval: 0xffffffff,
              contentType: 'application/json',
              responseTopic: 'reply/to',
              correlationData: Buffer.from('not base64 ==', 'utf8'),
              subscriptionIdentifiers: [1, 268_435_455],
              userProperties: [
                ['z', 'last'],
                ['a', 'first'],
                ['z', 'again'],
              ],
            },
          }),
          message(4, { payload: Buffer.alloc(256 * 1024, 7) }),
        ];
        store.apply(messages.map((m): StoreOp => ({ op: 'putMessage', message: m })));
        store.apply(messages.map((m) => delivery('keeper', m.id, m.id)).map(putDelivery));
        assert.deepEqual(store.load().messages, new Map(messages.map((m) => [m.id, m])));
      }));

    test('property: any batch of messages round-trips exactly', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(arbitraryMessage(), { selector: (m) => m.id, maxLength: 8 }), (messages) =>
          withStore((store) => {
            store.apply(
              messages.flatMap((m): StoreOp[] => [
                { op: 'putMessage', message: m },
                putDelivery(delivery('keeper', m.id, m.id)),
              ]),
            );
            assert.deepEqual(store.load().messages, new Map(messages.map((m) => [m.id, m])));
          }),
        ),
        { numRuns: 50 },
      );
    });

    test('deleteMessage removes the message', () =>
      withStore((store) => {
        store.apply([
          put(message(1)),
          put(message(2)),
          putDelivery(delivery('a', 1, 1)),
          putDelivery(delivery('a', 2, 2)),
        ]);
        store.apply([{ op: 'deleteMessage', id: 1 }]);
        assert.deepEqual([...store.load().messages.keys()], [2]);
      }));

    test('deliveries load ordered by seq per client, whatever order they were written in', () =>
      withStore((store) => {
        const seqs = [5, 1, 9, 3, 12, 2];
        store.apply([
          put(message(1)),
          ...seqs.map((seq) => putDelivery(delivery(seq % 2 === 0 ? 'even' : 'odd', seq, 1))),
        ]);
        const { deliveries } = store.load();
        assert.deepEqual(
          new Map([...deliveries].map(([clientId, list]) => [clientId, list.map((d) => d.seq)])),
          new Map([
            ['even', [2, 12]],
            ['odd', [1, 3, 5, 9]],
          ]),
        );
      }));

    test('putDelivery replaces by (clientId, seq); deleteDelivery removes one', () =>
      withStore((store) => {
        store.apply([put(message(1)), putDelivery(delivery('a', 1, 1)), putDelivery(delivery('a', 2, 1))]);
        const sent = delivery('a', 1, 1, {
          qos: 2,
          packetId: 65_535,
          state: 'sent',
          subscriptionIds: [3, 1],
          isRetained: true,
        });
        store.apply([putDelivery(sent)]);
        const released = { ...sent, state: 'released' as const };
        store.apply([putDelivery(released), { op: 'deleteDelivery', clientId: 'a', seq: 2 }]);
        assert.deepEqual(store.load().deliveries, new Map([['a', [released]]]));
      }));

    test('incoming QoS 2 packet ids are kept per client and released one by one [MQTT-4.3.3-9]', () =>
      withStore((store) => {
        store.apply([
          { op: 'putIncomingQos2', clientId: 'a', packetId: 7 },
          { op: 'putIncomingQos2', clientId: 'a', packetId: 1 },
          { op: 'putIncomingQos2', clientId: 'a', packetId: 7 }, // a duplicate PUBLISH ([MQTT-4.3.3-10]) keeps one id
          { op: 'putIncomingQos2', clientId: 'b', packetId: 65_535 },
          { op: 'putIncomingQos2', clientId: 'c', packetId: 2 },
        ]);
        store.apply([
          { op: 'deleteIncomingQos2', clientId: 'a', packetId: 1 },
          { op: 'deleteIncomingQos2', clientId: 'c', packetId: 2 },
        ]);
        assert.deepEqual(
          store.load().incomingQos2,
          new Map([
            ['a', [7]],
            ['b', [65_535]],
          ]),
        );
      }));

    test('retained messages: one per topic, replaced by putRetained, removed by deleteRetained', () =>
      withStore((store) => {
        const old = message(1, { topicName: 'a', isRetained: true });
        const newer = message(2, { topicName: 'a', isRetained: true, properties: { userProperties: [['v', '2']] } });
        const other = message(3, { topicName: 'b', isRetained: true, payload: Buffer.from('b') });
        store.apply([retain(old), retain(other)]);
        store.apply([retain(newer), { op: 'deleteRetained', topicName: 'nothing' }]);
        assert.deepEqual(sortedRetained(store.load()), [newer, other]);
        store.apply([{ op: 'deleteRetained', topicName: 'b' }]);
        assert.deepEqual(store.load().retained, [newer]);
      }));

    test('a retained message is self-contained: it needs no putMessage and survives the orphan sweep', () =>
      withStore((store) => {
        const retained = message(4, { topicName: 'r', isRetained: true });
        store.apply([put(retained), retain(retained)]);
        const first = store.load();
        assert.deepEqual(first.retained, [retained]);
        assert.equal(first.messages.size, 0);
        assert.deepEqual(store.load().retained, [retained]);
      }));

    test('deleteSession cascades to subscriptions, deliveries and incoming QoS 2 ids of that client only', () =>
      withStore((store) => {
        const kept = message(2, { topicName: 'kept' });
        store.apply([
          ...['gone', 'stays'].flatMap((clientId): StoreOp[] => [
            put(session(clientId)),
            { op: 'putSubscription', clientId, subscription: subscription('t') },
            putDelivery(delivery(clientId, clientId === 'gone' ? 1 : 2, clientId === 'gone' ? 1 : 2)),
            { op: 'putIncomingQos2', clientId, packetId: 5 },
          ]),
          put(message(1)),
          put(kept),
          retain(message(3, { topicName: 'r' })),
        ]);
        store.apply([{ op: 'deleteSession', clientId: 'gone' }]);
        const snapshot = store.load();
        assert.deepEqual(snapshot.sessions, [session('stays')]);
        assert.deepEqual([...snapshot.subscriptions.keys()], ['stays']);
        assert.deepEqual(snapshot.deliveries, new Map([['stays', [delivery('stays', 2, 2)]]]));
        assert.deepEqual(snapshot.incomingQos2, new Map([['stays', [5]]]));
        // The message only 'gone' referenced is swept by load; the retained entry is untouched.
        assert.deepEqual(snapshot.messages, new Map([[2, kept]]));
        assert.equal(snapshot.retained.length, 1);
      }));

    test('load deletes messages that no delivery references', () =>
      withStore((store) => {
        store.apply([put(message(1)), put(message(2)), put(message(3)), putDelivery(delivery('a', 1, 2))]);
        assert.deepEqual([...store.load().messages.keys()], [2]);
        // Message 1 is gone for good: a delivery written afterwards does not bring it back.
        store.apply([putDelivery(delivery('a', 2, 1))]);
        assert.deepEqual([...store.load().messages.keys()], [2]);
      }));

    test('maxMessageId and maxDeliverySeq never go backwards when their rows are deleted', () =>
      withStore(async (store) => {
        store.apply([put(message(41)), retain(message(97, { topicName: 'r' })), putDelivery(delivery('a', 12, 41))]);
        store.apply([put(message(5)), putDelivery(delivery('b', 3, 5))]);
        assert.deepEqual(counters(store.load()), { maxMessageId: 97, maxDeliverySeq: 12 });
        store.apply([
          { op: 'deleteDelivery', clientId: 'a', seq: 12 },
          { op: 'deleteDelivery', clientId: 'b', seq: 3 },
          { op: 'deleteMessage', id: 41 },
          { op: 'deleteRetained', topicName: 'r' },
        ]);
        assert.deepEqual(counters(store.load()), { maxMessageId: 97, maxDeliverySeq: 12 });
        if (reopen === undefined) return store;
        const reopened = await reopen(store);
        assert.deepEqual(counters(reopened.load()), { maxMessageId: 97, maxDeliverySeq: 12 });
        return reopened;
      }));

    test('the ops of a batch apply in order', () =>
      withStore((store) => {
        store.apply([
          { op: 'putSubscription', clientId: 'a', subscription: subscription('x') },
          { op: 'deleteSubscription', clientId: 'a', topicFilter: 'x' },
          put(session('b', { sessionExpiryIntervalSeconds: 1 })),
          { op: 'deleteSession', clientId: 'b' },
          put(session('b', { sessionExpiryIntervalSeconds: 2 })),
          { op: 'deleteRetained', topicName: 'r' },
          retain(message(1, { topicName: 'r' })),
        ]);
        const snapshot = store.load();
        assert.equal(snapshot.subscriptions.size, 0);
        assert.deepEqual(snapshot.sessions, [session('b', { sessionExpiryIntervalSeconds: 2 })]);
        assert.equal(snapshot.retained.length, 1);
      }));

    // Each case is a value the SQLite schema refuses with a CHECK constraint, placed after ops that replace, add and
    // delete state, so applying "nothing" is visible.
    const badOps: [string, StoreOp][] = [
      ['a delivery state outside queued/sent/released', putDelivery(delivery('a', 9, 1, { state: 'lost' as 'sent' }))],
      ['a packet id above 65535', putDelivery(delivery('a', 9, 1, { packetId: 65_536 }))],
      ['QoS 3 ([MQTT-3.3.1-4])', put(message(9, { qos: 3 as 2 }))],
      ['an incoming QoS 2 packet id of 0 ([MQTT-2.2.1-3])', { op: 'putIncomingQos2', clientId: 'a', packetId: 0 }],
      ['an unknown op', { op: 'truncateEverything' } as unknown as StoreOp],
    ];
    for (const [what, badOp] of badOps) {
      test(`a batch failing mid-way on ${what} throws and applies nothing`, () =>
        withStore((store) => {
          store.apply([put(session('a')), put(message(1)), putDelivery(delivery('a', 1, 1))]);
          const before = store.load();
          assert.throws(() =>
            store.apply([
              put(session('a', { sessionExpiryIntervalSeconds: 99 })),
              put(message(50)),
              putDelivery(delivery('a', 50, 50)),
              { op: 'deleteDelivery', clientId: 'a', seq: 1 },
              badOp,
              put(session('never')),
            ]),
          );
          assert.deepEqual(store.load(), before);
          // The store still works after the failure.
          store.apply([put(session('after'))]);
          assert.equal(store.load().sessions.length, 2);
        }));
    }

    test('the store keeps its own copy of what it is given', () =>
      withStore((store) => {
        const stored = message(1, { properties: { correlationData: Buffer.from([1]), userProperties: [['k', 'v']] } });
        const input = structuredCopy(stored);
        const sent = delivery('a', 1, 1, { subscriptionIds: [4] });
        const deliveryInput = { ...sent, subscriptionIds: [...sent.subscriptionIds] };
        store.apply([put(input), putDelivery(deliveryInput)]);
        input.payload.fill(0);
        input.properties!.correlationData!.fill(0);
        input.properties!.userProperties![0]![1] = 'changed';
        input.properties!.userProperties!.push(['new', 'pair']);
        deliveryInput.subscriptionIds.push(5);
        const snapshot = store.load();
        assert.deepEqual(snapshot.messages.get(1), stored);
        assert.deepEqual(snapshot.deliveries.get('a'), [sent]);
      }));

    test('a loaded snapshot can be mutated without changing the store', () =>
      withStore((store) => {
        const stored = message(1, { properties: { userProperties: [['k', 'v']] } });
        store.apply([put(stored), putDelivery(delivery('a', 1, 1)), put(session('a'))]);
        const first = store.load();
        first.messages.get(1)!.payload.fill(0);
        first.messages.get(1)!.properties!.userProperties!.push(['x', 'y']);
        first.deliveries.get('a')!.pop();
        first.sessions[0]!.sessionExpiryIntervalSeconds = 1;
        const second = store.load();
        assert.deepEqual(second.messages.get(1), stored);
        assert.deepEqual(second.deliveries.get('a'), [delivery('a', 1, 1)]);
        assert.deepEqual(second.sessions, [session('a')]);
      }));

    test('apply after close throws', async () => {
      const store = create();
      await store.close();
      assert.throws(() => store.apply([put(session('a'))]));
    });

    test(
      'everything survives close and reopen',
      { skip: reopen === undefined && 'not durable: nothing survives' },
      () =>
        withStore(async (store) => {
          const state: StoreOp[] = [
            put(
              session('a', {
                will: {
                  topicName: 'w',
                  payload: Buffer.from('bye'),
                  qos: 1,
                  isRetained: false,
                  properties: undefined,
                  delaySeconds: 5,
                },
              }),
            ),
            { op: 'putSubscription', clientId: 'a', subscription: subscription('s/#', { subscriptionId: 3 }) },
            put(message(10, { properties: { correlationData: Buffer.from([1, 2]) } })),
            putDelivery(delivery('a', 4, 10, { state: 'sent', packetId: 12, subscriptionIds: [3] })),
            { op: 'putIncomingQos2', clientId: 'a', packetId: 44 },
            retain(message(11, { topicName: 'r', isRetained: true })),
          ];
          store.apply(state);
          const before = store.load();
          const reopened = await reopen!(store);
          assert.deepEqual(reopened.load(), before);
          return reopened;
        }),
    );
  });
}
