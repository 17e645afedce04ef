/**
 * Delivery guards (docs/hooks.md): `authorizeSubscribe` may grant a filter with a guard, and `canDeliver` then decides
 * per message whether the subscriber gets it. This is how a wildcard subscription of one tenant is kept from another
 * tenant's topics, live, from the retained store, and for a persistent session across a broker restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import type { BrokerHooks, GuardedMessage } from '../../src/broker/index.js';
import { SqliteBrokerStore } from '../../src/storage/index.js';
import { startHookedBroker } from '../helpers/hooked-broker.js';
import { connectClient, PROTOCOL_VERSIONS, Resources } from '../helpers/mqtt-js.js';

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-guards-'));
after(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/** Client ids starting with `tenant-a` subscribe under guard `a`, which only lets `t/a/...` through. */
const guardHooks: BrokerHooks = {
  authorizeSubscribe: (client, _topicFilter, qos) =>
    client.clientId.startsWith('tenant-a') ? { qos, guard: 'a' } : qos,
  canDeliver: (guard: string, message: GuardedMessage) => {
    if (message.topicName === 't/boom') throw new Error('a hook that throws');
    return message.topicName.startsWith(`t/${guard}/`);
  },
};

describe('delivery guards', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  for (const version of PROTOCOL_VERSIONS) {
    test(`MQTT ${version === 5 ? '5' : '3.1.1'}: a guarded wildcard subscriber gets only what its guard allows; an unguarded one gets everything`, async () => {
      const harness = await startHookedBroker(guardHooks);
      after(() => harness.close());
      const url = `mqtt://127.0.0.1:${String(harness.port)}`;
      const guarded = resources.add(
        await connectClient(url, { protocolVersion: version, clientId: `tenant-a-${String(version)}` }),
      );
      const open = resources.add(
        await connectClient(url, { protocolVersion: version, clientId: `other-${String(version)}` }),
      );
      await guarded.client.subscribeAsync('t/#', { qos: 1 });
      await open.client.subscribeAsync('t/#', { qos: 1 });
      const publisher = resources.add(await connectClient(url, { protocolVersion: version }));
      for (const topic of ['t/b/1', 't/boom', 't/a/1']) await publisher.client.publishAsync(topic, 'x', { qos: 1 });
      await open.waitForMessages(3);
      // Messages of one publisher arrive in order [MQTT-4.6.0-5]: once t/a/1 is here, the two before it were withheld.
      await guarded.waitForMessages(1);
      assert.deepEqual(
        guarded.messages.map((m) => m.topic),
        ['t/a/1'],
      );
      assert.deepEqual(
        open.messages.map((m) => m.topic),
        ['t/b/1', 't/boom', 't/a/1'],
      );
    });
  }

  test('a guarded-only message from the platform reaches guarded subscribers its guard allows, never an unguarded one', async () => {
    const payloads: Buffer[] = [];
    const harness = await startHookedBroker({
      ...guardHooks,
      canDeliver: (guard, message) => {
        payloads.push(message.payload);
        return message.topicName.startsWith(`t/${guard}/`);
      },
    });
    after(() => harness.close());
    const url = `mqtt://127.0.0.1:${String(harness.port)}`;
    const guarded = resources.add(await connectClient(url, { clientId: 'tenant-a-only' }));
    const open = resources.add(await connectClient(url, { clientId: 'other-only' }));
    await guarded.client.subscribeAsync('t/#', { qos: 1 });
    await open.client.subscribeAsync('t/#', { qos: 1 });
    const publish = (topicName: string, text: string, guardedOnly: boolean): void => {
      harness.broker.publish(
        { topicName, payload: Buffer.from(text), qos: 1, isRetained: false, properties: undefined },
        { guardedOnly },
      );
    };
    publish('t/a/secret', 'secret', true);
    publish('t/b/secret', 'other', true);
    publish('t/a/open', 'open', false);
    await open.waitForMessages(1);
    await guarded.waitForMessages(2);
    assert.deepEqual(
      guarded.messages.map((m) => m.payload),
      ['secret', 'open'],
    );
    // In order: the open message came last, so the two guarded-only ones were withheld, not late.
    assert.deepEqual(
      open.messages.map((m) => m.payload),
      ['open'],
    );
    // The guard sees the payload it judges.
    assert.equal(payloads[0]?.toString(), 'secret');
    assert.throws(() => {
      harness.broker.publish(
        { topicName: 't/a/r', payload: Buffer.from('r'), qos: 1, isRetained: true, properties: undefined },
        { guardedOnly: true },
      );
    }, RangeError);
  });

  test('retained messages a guard refuses are not sent on subscribe', async () => {
    const harness = await startHookedBroker(guardHooks);
    after(() => harness.close());
    const url = `mqtt://127.0.0.1:${String(harness.port)}`;
    const publisher = resources.add(await connectClient(url));
    await publisher.client.publishAsync('t/b/state', 'b', { qos: 1, retain: true });
    await publisher.client.publishAsync('t/a/state', 'a', { qos: 1, retain: true });
    const guarded = resources.add(await connectClient(url, { clientId: 'tenant-a-retained' }));
    await guarded.client.subscribeAsync('t/+/state', { qos: 1 });
    // The retained messages go out right after the SUBACK, before anything published later.
    await guarded.client.subscribeAsync('t/a/live', { qos: 1 });
    await publisher.client.publishAsync('t/a/live', 'marker', { qos: 1 });
    await guarded.waitForMessages(1, (m) => m.payload === 'marker');
    assert.deepEqual(
      guarded.messages.filter((m) => m.topic.endsWith('/state')).map((m) => [m.topic, m.packet.retain]),
      [['t/a/state', true]],
    );
  });

  test('a persistent session keeps its guard across a broker restart and gets only allowed queued messages', async () => {
    const filePath = join(workDir, 'broker.db');
    const first = await startHookedBroker(guardHooks, {}, new SqliteBrokerStore(filePath));
    const url1 = `mqtt://127.0.0.1:${String(first.port)}`;
    const subscriber = await connectClient(url1, { clientId: 'tenant-a-persistent', clean: false, protocolVersion: 4 });
    await subscriber.client.subscribeAsync('t/#', { qos: 1 });
    await subscriber.client.endAsync();
    await first.close();

    const second = await startHookedBroker(guardHooks, {}, new SqliteBrokerStore(filePath));
    after(() => second.close());
    const url2 = `mqtt://127.0.0.1:${String(second.port)}`;
    const publisher = resources.add(await connectClient(url2));
    await publisher.client.publishAsync('t/b/queued', 'b', { qos: 1 });
    await publisher.client.publishAsync('t/a/queued', 'a', { qos: 1 });
    const back = resources.add(
      await connectClient(url2, { clientId: 'tenant-a-persistent', clean: false, protocolVersion: 4 }),
    );
    assert.equal(back.connack.sessionPresent, true);
    await back.waitForMessages(1);
    await publisher.client.publishAsync('t/a/after', 'marker', { qos: 1 });
    await back.waitForMessages(2);
    assert.deepEqual(
      back.messages.map((m) => m.topic),
      ['t/a/queued', 't/a/after'],
    );
  });
});
