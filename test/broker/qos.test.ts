/**
 * QoS end to end: 0, 1 and 2 in both directions, packet identifiers, the outbound in-flight window, v5 Receive
 * Maximum both ways, resending with DUP after a reconnect, QoS 2 exactly once, and the downgrade to the
 * subscription's QoS — for MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PacketType } from '../../src/mqtt/codec/index.js';
import {
  connectClient,
  PROTOCOL_VERSIONS,
  Resources,
  startTestServer,
  WireClient,
  type TestServer,
  type TestProtocolVersion,
} from '../helpers/index.js';

const VERSION_NAME = { 4: 'MQTT 3.1.1', 5: 'MQTT 5' } as const;
const QOS_LEVELS = [0, 1, 2] as const;

/** CONNECT options for a session that outlives the connection, in either version. */
function persistent(version: TestProtocolVersion): {
  cleanStart: false;
  properties?: { sessionExpiryInterval: number };
} {
  return version === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 300 } } : { cleanStart: false };
}

describe('QoS flows', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];
    const url = (): string => server.mqttUrl;

    for (const qos of QOS_LEVELS) {
      test(`${name}: a QoS ${String(qos)} message reaches a QoS ${String(qos)} subscriber at QoS ${String(qos)}`, async () => {
        const topic = `qos/${String(version)}/${String(qos)}`;
        const subscriber = resources.add(await connectClient(url(), { protocolVersion: version }));
        await subscriber.client.subscribeAsync(topic, { qos });
        const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
        await publisher.client.publishAsync(topic, `payload ${String(qos)}`, { qos });
        const [message] = await subscriber.waitForMessages(1);
        assert.equal(message?.payload, `payload ${String(qos)}`);
        assert.equal(message?.packet.qos, qos);
      });
    }

    test(`${name}: a QoS 1 PUBLISH is answered with a PUBACK carrying its packet id`, async () => {
      const { client } = await WireClient.connect(server.mqttPort, version, { clientId: `pub1-${String(version)}` });
      resources.add(client);
      for (const packetId of [1, 0x1234, 0xffff]) {
        client.publish('qos/ack/1', 'x', { qos: 1, packetId });
        // [MQTT-2.3.1-6] the acknowledgement has the same packet identifier as the PUBLISH.
        const puback = await client.next(PacketType.Puback);
        assert.equal(puback.packetId, packetId);
        assert.equal(puback.reasonCode, 0x00);
      }
    });

    test(`${name}: a QoS 2 PUBLISH runs PUBREC, PUBREL, PUBCOMP with its packet id`, async () => {
      const { client } = await WireClient.connect(server.mqttPort, version, { clientId: `pub2-${String(version)}` });
      resources.add(client);
      client.publish('qos/ack/2', 'x', { qos: 2, packetId: 42 });
      // [MQTT-4.3.3-2] PUBREC with the packet id; [MQTT-4.3.3-3] PUBCOMP answers PUBREL.
      const pubrec = await client.next(PacketType.Pubrec);
      assert.equal(pubrec.packetId, 42);
      client.ack(PacketType.Pubrel, 42);
      const pubcomp = await client.next(PacketType.Pubcomp);
      assert.equal(pubcomp.packetId, 42);
      assert.equal(pubcomp.reasonCode, 0x00);
    });

    test(`${name}: a QoS 1 subscriber gets distinct non-zero packet ids and each PUBACK completes one`, async () => {
      const { client: subscriber } = await WireClient.connect(server.mqttPort, version, {
        clientId: `sub1-${String(version)}`,
      });
      resources.add(subscriber);
      await subscriber.subscribe('qos/out/1', 1);
      const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
      for (let i = 0; i < 5; i++) await publisher.client.publishAsync('qos/out/1', `m${String(i)}`, { qos: 1 });
      const publishes = await subscriber.nextPublishes(5);
      // [MQTT-2.3.1-1] non-zero packet ids; [MQTT-2.3.1-2] unused by any other in-flight PUBLISH.
      const ids = publishes.map((p) => p.packetId);
      assert.ok(ids.every((id) => id > 0));
      assert.equal(new Set(ids).size, 5);
      assert.deepEqual(
        publishes.map((p) => [p.payload.toString(), p.qos, p.isDuplicate]),
        [0, 1, 2, 3, 4].map((i) => [`m${String(i)}`, 1, false]),
      );
      for (const id of ids) subscriber.ack(PacketType.Puback, id);
      await subscriber.sync();
    });

    test(`${name}: a QoS 2 subscriber completes PUBLISH, PUBREC, PUBREL, PUBCOMP`, async () => {
      const { client: subscriber } = await WireClient.connect(server.mqttPort, version, {
        clientId: `sub2-${String(version)}`,
      });
      resources.add(subscriber);
      await subscriber.subscribe('qos/out/2', 2);
      const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
      await publisher.client.publishAsync('qos/out/2', 'exactly once', { qos: 2 });
      const publish = await subscriber.next(PacketType.Publish);
      assert.equal(publish.qos, 2);
      subscriber.ack(PacketType.Pubrec, publish.packetId);
      // [MQTT-4.3.3-2] the sender answers PUBREC with PUBREL carrying the same packet id.
      const pubrel = await subscriber.next(PacketType.Pubrel);
      assert.equal(pubrel.packetId, publish.packetId);
      subscriber.ack(PacketType.Pubcomp, publish.packetId);
      await subscriber.sync();
      assert.equal(subscriber.unread(PacketType.Publish).length, 0);
    });

    for (const [subscribedQos, publishedQos] of [
      [0, 1],
      [0, 2],
      [1, 2],
      [2, 1],
      [1, 0],
    ] as const) {
      const expected = Math.min(subscribedQos, publishedQos);
      test(`${name}: a QoS ${String(publishedQos)} message to a QoS ${String(subscribedQos)} subscription arrives at QoS ${String(expected)}`, async () => {
        const topic = `qos/downgrade/${String(version)}/${String(subscribedQos)}/${String(publishedQos)}`;
        const subscriber = resources.add(await connectClient(url(), { protocolVersion: version }));
        const [granted] = await subscriber.client.subscribeAsync(topic, { qos: subscribedQos });
        assert.equal(granted?.qos, subscribedQos);
        const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
        await publisher.client.publishAsync(topic, 'x', { qos: publishedQos });
        const [message] = await subscriber.waitForMessages(1);
        // [MQTT-3.8.4-6] delivered at the minimum of the published QoS and the granted QoS.
        assert.equal(message?.packet.qos, expected);
      });
    }

    test(`${name}: a publisher pipelining 300 QoS 1 messages to a persistent subscriber gets every PUBACK`, async () => {
      const topic = `qos/pipeline/${String(version)}`;
      const clientId = `pipeline-sub-${String(version)}`;
      const subscriber = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
      resources.add(subscriber.client);
      await subscriber.client.subscribe(topic, 1);
      await subscriber.client.close(); // offline: every message is queued and persisted before its PUBACK
      const { client: publisher } = await WireClient.connect(server.mqttPort, version, {
        clientId: `pipeline-pub-${String(version)}`,
      });
      resources.add(publisher);
      // All in one write: the broker holds the PUBACKs until one commit makes the messages durable.
      // 3.1.1 has no Receive Maximum, so this is legal there; v5 stays within ours (128) by sending 100.
      const count = version === 5 ? 100 : 300;
      const ids = Array.from({ length: count }, (_v, i) => i + 1);
      publisher.socket.cork();
      for (const packetId of ids) publisher.publish(topic, `p${String(packetId)}`, { qos: 1, packetId });
      publisher.socket.uncork();
      const acked: number[] = [];
      for (let i = 0; i < count; i++) acked.push((await publisher.next(PacketType.Puback)).packetId);
      // [MQTT-4.6.0-2] (3.1.1) PUBACKs go out in the order the PUBLISH packets were received.
      assert.deepEqual(acked, ids);
    });

    test(`${name}: a QoS 2 publisher that resends its PUBLISH before PUBREL delivers one copy`, async () => {
      const topic = `qos/once/${String(version)}`;
      const subscriber = resources.add(await connectClient(url(), { protocolVersion: version }));
      await subscriber.client.subscribeAsync(topic, { qos: 2 });
      const { client: publisher } = await WireClient.connect(server.mqttPort, version, {
        clientId: `once-${String(version)}`,
      });
      resources.add(publisher);
      publisher.publish(topic, 'one', { qos: 2, packetId: 7 });
      assert.equal((await publisher.next(PacketType.Pubrec)).packetId, 7);
      // [MQTT-4.3.3-2] until PUBREL, a PUBLISH with the same id is acknowledged again, not delivered again.
      publisher.publish(topic, 'one', { qos: 2, packetId: 7, isDuplicate: true });
      assert.equal((await publisher.next(PacketType.Pubrec)).packetId, 7);
      publisher.ack(PacketType.Pubrel, 7);
      assert.equal((await publisher.next(PacketType.Pubcomp)).packetId, 7);
      // After PUBCOMP the id is free: a new message with it is a new message.
      publisher.publish(topic, 'two', { qos: 2, packetId: 7 });
      await publisher.next(PacketType.Pubrec);
      publisher.ack(PacketType.Pubrel, 7);
      await publisher.next(PacketType.Pubcomp);
      await subscriber.waitForMessages(2);
      assert.deepEqual(
        subscriber.messages.map((m) => m.payload),
        ['one', 'two'],
      );
    });

    test(`${name}: a QoS 2 PUBLISH resent after the publisher reconnects is delivered once`, async () => {
      const topic = `qos/once-reconnect/${String(version)}`;
      const clientId = `once-reconnect-${String(version)}`;
      const subscriber = resources.add(await connectClient(url(), { protocolVersion: version }));
      await subscriber.client.subscribeAsync(topic, { qos: 2 });
      const first = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
      resources.add(first.client);
      first.client.publish(topic, 'only once', { qos: 2, packetId: 99 });
      await first.client.next(PacketType.Pubrec);
      await first.client.destroy(); // network loss before PUBREL
      const second = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
      resources.add(second.client);
      assert.equal(second.connack.sessionPresent, true);
      // [MQTT-4.4.0-1] the client resends with DUP; the server still holds the id ([MQTT-4.3.3-2]).
      second.client.publish(topic, 'only once', { qos: 2, packetId: 99, isDuplicate: true });
      assert.equal((await second.client.next(PacketType.Pubrec)).packetId, 99);
      second.client.ack(PacketType.Pubrel, 99);
      assert.equal((await second.client.next(PacketType.Pubcomp)).packetId, 99);
      second.client.publish(topic, 'marker', { qos: 1 });
      await second.client.next(PacketType.Puback);
      await subscriber.waitForMessages(2);
      assert.deepEqual(
        subscriber.messages.map((m) => m.payload),
        ['only once', 'marker'],
      );
    });

    for (const qos of [1, 2] as const) {
      test(`${name}: unacknowledged QoS ${String(qos)} messages are resent with DUP and the same packet ids after a reconnect`, async () => {
        const topic = `qos/resend/${String(version)}/${String(qos)}`;
        const clientId = `resend-${String(version)}-${String(qos)}`;
        const first = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
        resources.add(first.client);
        await first.client.subscribe(topic, qos);
        const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
        for (let i = 0; i < 3; i++) await publisher.client.publishAsync(topic, `r${String(i)}`, { qos });
        const original = await first.client.nextPublishes(3);
        assert.ok(original.every((p) => !p.isDuplicate));
        await first.client.destroy();
        const second = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
        resources.add(second.client);
        assert.equal(second.connack.sessionPresent, true);
        // [MQTT-4.4.0-1] unacknowledged PUBLISH packets are resent with their original packet ids;
        // [MQTT-3.3.1-1] DUP is set on a redelivery.
        const resent = await second.client.nextPublishes(3);
        assert.deepEqual(
          resent.map((p) => [p.packetId, p.payload.toString(), p.qos, p.isDuplicate]),
          original.map((p) => [p.packetId, p.payload.toString(), qos, true]),
        );
        for (const p of resent) {
          if (qos === 1) {
            second.client.ack(PacketType.Puback, p.packetId);
          } else {
            second.client.ack(PacketType.Pubrec, p.packetId);
            await second.client.next(PacketType.Pubrel, (rel) => rel.packetId === p.packetId);
            second.client.ack(PacketType.Pubcomp, p.packetId);
          }
        }
        await second.client.sync();
        await second.client.close();
        // Acknowledged: a third connection gets nothing again.
        const third = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
        resources.add(third.client);
        await third.client.sync();
        assert.equal(third.client.unread(PacketType.Publish).length, 0);
        await third.client.close();
      });
    }

    test(`${name}: a PUBREL not yet completed is resent after a reconnect`, async () => {
      const topic = `qos/resend-pubrel/${String(version)}`;
      const clientId = `resend-pubrel-${String(version)}`;
      const first = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
      resources.add(first.client);
      await first.client.subscribe(topic, 2);
      const publisher = resources.add(await connectClient(url(), { protocolVersion: version }));
      await publisher.client.publishAsync(topic, 'rel', { qos: 2 });
      const publish = await first.client.next(PacketType.Publish);
      first.client.ack(PacketType.Pubrec, publish.packetId);
      await first.client.next(PacketType.Pubrel);
      await first.client.destroy(); // no PUBCOMP
      const second = await WireClient.connect(server.mqttPort, version, { clientId, ...persistent(version) });
      resources.add(second.client);
      // [MQTT-4.4.0-1] unacknowledged PUBREL packets are resent; the PUBLISH is not.
      const pubrel = await second.client.next(PacketType.Pubrel);
      assert.equal(pubrel.packetId, publish.packetId);
      second.client.ack(PacketType.Pubcomp, pubrel.packetId);
      await second.client.sync();
      assert.equal(second.client.unread(PacketType.Publish).length, 0);
      await second.client.close();
    });
  }
});

describe('in-flight window (mqtt.maxInflight 3, mqtt.receiveMaximum 2)', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer({ mqtt: { maxInflight: 3, receiveMaximum: 2 } });
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];

    for (const qos of [1, 2] as const) {
      test(`${name}: a QoS ${String(qos)} subscriber that does not acknowledge gets 3 messages, the rest as it acknowledges`, async () => {
        const topic = `window/${String(version)}/${String(qos)}`;
        const { client: subscriber } = await WireClient.connect(server.mqttPort, version, {
          clientId: `window-${String(version)}-${String(qos)}`,
        });
        resources.add(subscriber);
        await subscriber.subscribe(topic, qos);
        const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
        for (let i = 0; i < 8; i++) await publisher.client.publishAsync(topic, `w${String(i)}`, { qos });
        const firstWindow = await subscriber.nextPublishes(3);
        await subscriber.sync();
        // The window is full: nothing more until an acknowledgement.
        assert.equal(subscriber.unread(PacketType.Publish).length, 0);
        const received = [...firstWindow];
        const acknowledge = async (packetId: number): Promise<void> => {
          if (qos === 1) {
            subscriber.ack(PacketType.Puback, packetId);
            return;
          }
          subscriber.ack(PacketType.Pubrec, packetId);
          await subscriber.next(PacketType.Pubrel, (rel) => rel.packetId === packetId);
          subscriber.ack(PacketType.Pubcomp, packetId);
        };
        await acknowledge(firstWindow[0]!.packetId);
        received.push(...(await subscriber.nextPublishes(1)));
        await subscriber.sync();
        assert.equal(subscriber.unread(PacketType.Publish).length, 0);
        for (let i = 1; i < 8; i++) {
          await acknowledge(received[i]!.packetId);
          if (received.length < 8) received.push(...(await subscriber.nextPublishes(1)));
        }
        assert.deepEqual(
          received.map((p) => p.payload.toString()),
          [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `w${String(i)}`),
        );
      });
    }

    test(`${name}: QoS 0 messages are not held back by a full window`, async () => {
      const { client: subscriber } = await WireClient.connect(server.mqttPort, version, {
        clientId: `window-qos0-${String(version)}`,
      });
      resources.add(subscriber);
      await subscriber.subscribe([
        { topicFilter: 'window0/q1', qos: 1 },
        { topicFilter: 'window0/q0', qos: 0 },
      ]);
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      for (let i = 0; i < 3; i++) await publisher.client.publishAsync('window0/q1', 'held', { qos: 1 });
      await subscriber.nextPublishes(3);
      await publisher.client.publishAsync('window0/q0', 'qos0', { qos: 0 });
      // [MQTT-3.3.4-10] (v5) the server must not delay QoS 0 because of the Receive Maximum.
      const publish = await subscriber.next(PacketType.Publish);
      assert.equal(publish.topicName, 'window0/q0');
    });
  }

  test('MQTT 5: the CONNACK announces our Receive Maximum', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, { clientId: 'rm-announce' });
    resources.add(client);
    assert.equal(connack.properties?.receiveMaximum, 2);
  });

  test('MQTT 5: a client exceeding our Receive Maximum is disconnected with 0x93', async () => {
    const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await subscriber.client.subscribeAsync('rm/exceed', { qos: 2 });
    const { client } = await WireClient.connect(server.mqttPort, 5, { clientId: 'rm-exceed' });
    resources.add(client);
    // Two QoS 2 messages unreleased fill our window of 2 ([MQTT-3.3.4-7] binds the client).
    client.publish('rm/exceed', 'a', { qos: 2 });
    client.publish('rm/exceed', 'b', { qos: 2 });
    await client.next(PacketType.Pubrec);
    await client.next(PacketType.Pubrec);
    client.publish('rm/exceed', 'c', { qos: 2 });
    // MQTT 5.0 §3.2.2.3.3: more than Receive Maximum unacknowledged: DISCONNECT 0x93.
    const disconnect = await client.nextDisconnect();
    assert.equal(disconnect.reasonCode, 0x93);
    await client.closed();
    await subscriber.waitForMessages(2);
    assert.deepEqual(
      subscriber.messages.map((m) => m.payload),
      ['a', 'b'],
    );
  });

  test('MQTT 5: releasing a QoS 2 message frees a place in our Receive Maximum', async () => {
    const { client } = await WireClient.connect(server.mqttPort, 5, { clientId: 'rm-release' });
    resources.add(client);
    for (let i = 0; i < 5; i++) {
      const packetId = client.publish('rm/release', 'x', { qos: 2 });
      await client.next(PacketType.Pubrec);
      client.ack(PacketType.Pubrel, packetId);
      await client.next(PacketType.Pubcomp);
    }
    assert.equal(client.isClosed, false);
  });
});

describe('v5 Receive Maximum of the client', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const qos of [1, 2] as const) {
    test(`a client with Receive Maximum 2 gets at most 2 unacknowledged QoS ${String(qos)} messages`, async () => {
      const { client: subscriber } = await WireClient.connect(server.mqttPort, 5, {
        clientId: `client-rm-${String(qos)}`,
        properties: { receiveMaximum: 2 },
      });
      resources.add(subscriber);
      await subscriber.subscribe('client-rm/t', qos);
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
      for (let i = 0; i < 5; i++) await publisher.client.publishAsync('client-rm/t', `c${String(i)}`, { qos });
      const first = await subscriber.nextPublishes(2);
      await subscriber.sync();
      // [MQTT-3.3.4-9] no more than Receive Maximum unacknowledged QoS 1/2 PUBLISH packets.
      assert.equal(subscriber.unread(PacketType.Publish).length, 0);
      if (qos === 2) {
        // PUBREC (success) does not free the place: only PUBCOMP does.
        subscriber.ack(PacketType.Pubrec, first[0]!.packetId);
        await subscriber.next(PacketType.Pubrel);
        await subscriber.sync();
        assert.equal(subscriber.unread(PacketType.Publish).length, 0);
        subscriber.ack(PacketType.Pubcomp, first[0]!.packetId);
      } else {
        subscriber.ack(PacketType.Puback, first[0]!.packetId);
      }
      const [third] = await subscriber.nextPublishes(1);
      assert.equal(third?.payload.toString(), 'c2');
      await subscriber.sync();
      assert.equal(subscriber.unread(PacketType.Publish).length, 0);
    });
  }

  test('MQTT.js with receiveMaximum 1 receives all messages in order', async () => {
    const subscriber = resources.add(
      await connectClient(server.mqttUrl, { protocolVersion: 5, properties: { receiveMaximum: 1 } }),
    );
    await subscriber.client.subscribeAsync('client-rm/js', { qos: 1 });
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    const payloads = Array.from({ length: 20 }, (_v, i) => `j${String(i)}`);
    for (const payload of payloads) await publisher.client.publishAsync('client-rm/js', payload, { qos: 1 });
    const messages = await subscriber.waitForMessages(20);
    assert.deepEqual(
      messages.map((m) => m.payload),
      payloads,
    );
  });
});
