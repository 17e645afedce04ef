/**
 * MQTT 5 properties end to end: message expiry, topic aliases both ways, maximum packet size both ways, forwarded
 * application properties, payload format, subscription identifiers, reason strings, server DISCONNECT, problem /
 * response information and AUTH. Raw clients where MQTT.js would hide the wire (reason codes, aliases).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PacketType, ReasonCode } from '../../src/mqtt/codec/index.js';
import type { AckPacket } from '../../src/mqtt/codec/index.js';
import { clientClosed, connectClient, Resources, sleep } from '../helpers/mqtt-js.js';
import { WireClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

let server: TestServer;
before(async () => {
  server = await startTestServer({ mqtt: { topicAliasMaximum: 4 } });
});
after(() => server.close());

let topicCounter = 0;
/** A topic no other test uses. */
function freshTopic(name: string): string {
  return `v5/${name}/${String(++topicCounter)}`;
}

/** The PUBACK for `packetId`. */
function nextAck(client: WireClient, packetId: number): Promise<AckPacket> {
  return client.next(PacketType.Puback, (p) => p.packetId === packetId);
}

async function raw(
  version: 4 | 5,
  options: Parameters<typeof WireClient.connect>[2] = {},
  port = server.mqttPort,
): Promise<WireClient> {
  const { client, connack } = await WireClient.connect(port, version, options);
  assert.equal(connack.reasonCode, 0);
  return resources.add(client);
}

describe('Message Expiry Interval', () => {
  test('a queued message whose interval runs out while the subscriber is away is dropped; a live one arrives with less time left', async () => {
    const topic = freshTopic('expiry');
    const clientId = `expiry-sub-${String(topicCounter)}`;
    const subscriber = await raw(5, { clientId, cleanStart: true, properties: { sessionExpiryInterval: 300 } });
    assert.deepEqual((await subscriber.subscribe(topic, 1)).reasonCodes, [1]);
    await subscriber.close();

    const publisher = await raw(5);
    const shortId = publisher.publish(topic, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await nextAck(publisher, shortId);
    const longId = publisher.publish(topic, 'long-lived', { qos: 1, properties: { messageExpiryInterval: 60 } });
    await nextAck(publisher, longId);

    // Time is the behaviour: the 1 s message must expire while queued ([MQTT-3.3.2-5]).
    await sleep(2_100);
    const resumed = await raw(5, { clientId, cleanStart: false, properties: { sessionExpiryInterval: 300 } });
    const [delivered] = await resumed.nextPublishes(1);
    assert.equal(delivered!.payload.toString(), 'long-lived');
    // [MQTT-3.3.2-6] the forwarded interval is the original minus the time spent waiting.
    const remaining = delivered!.properties?.messageExpiryInterval;
    assert.ok(remaining !== undefined && remaining < 60 && remaining >= 57, `remaining interval ${String(remaining)}`);
    resumed.ack(PacketType.Puback, delivered!.packetId);
    await resumed.sync();
    assert.equal(resumed.unread(PacketType.Publish).length, 0, 'the expired message was not delivered');
  });

  test('a message published without an expiry arrives without one', async () => {
    const topic = freshTopic('no-expiry');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    publisher.publish(topic, 'x');
    const [message] = await subscriber.nextPublishes(1);
    assert.equal(message!.properties?.messageExpiryInterval, undefined);
  });
});

describe('Topic Alias, client to server', () => {
  test('a PUBLISH with an empty topic and a known alias reaches subscribers of the aliased topic', async () => {
    const topic = freshTopic('alias-in');
    const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await subscriber.client.subscribeAsync(topic, { qos: 0 });
    const publisher = await raw(5);
    // [MQTT-3.3.2-12] the first use sets the mapping, later ones may send an empty topic name.
    publisher.publish(topic, 'first', { properties: { topicAlias: 1 } });
    publisher.publish('', 'second', { properties: { topicAlias: 1 } });
    const messages = await subscriber.waitForMessages(2);
    assert.deepEqual(
      messages.map((m) => [m.topic, m.payload]),
      [
        [topic, 'first'],
        [topic, 'second'],
      ],
    );
  });

  test('an alias above our Topic Alias Maximum is answered with DISCONNECT 0x94 and a reason string', async () => {
    const publisher = await raw(5);
    // [MQTT-3.3.2-10] the alias must not exceed the Topic Alias Maximum the server sent in CONNACK (4 here).
    publisher.publish(freshTopic('alias-big'), 'x', { properties: { topicAlias: 5 } });
    const disconnect = await publisher.nextDisconnect();
    assert.equal(disconnect.reasonCode, ReasonCode.TopicAliasInvalid);
    assert.equal(typeof disconnect.properties?.reasonString, 'string');
    await publisher.closed();
  });

  test('the CONNACK announces the configured Topic Alias Maximum', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5);
    resources.add(client);
    assert.equal(connack.properties?.topicAliasMaximum, 4);
  });

  test('an empty topic with an alias never mapped on this connection is answered with DISCONNECT 0x82', async () => {
    const publisher = await raw(5);
    // MQTT 5 §3.3.2.3.4: an unknown alias with a zero-length topic name is a Protocol Error.
    publisher.publish('', 'x', { properties: { topicAlias: 2 } });
    const disconnect = await publisher.nextDisconnect();
    assert.equal(disconnect.reasonCode, ReasonCode.ProtocolError);
    await publisher.closed();
  });

  test('aliases do not carry over to a new connection', async () => {
    const clientId = `alias-carry-${String(++topicCounter)}`;
    const first = await raw(5, { clientId });
    first.publish(freshTopic('alias-carry'), 'x', { properties: { topicAlias: 1 } });
    await first.close();
    const second = await raw(5, { clientId });
    // [MQTT-3.3.2-7] mappings belong to one network connection.
    second.publish('', 'y', { properties: { topicAlias: 1 } });
    assert.equal((await second.nextDisconnect()).reasonCode, ReasonCode.ProtocolError);
  });
});

describe('Topic Alias, server to client', () => {
  test('with a client Topic Alias Maximum the second message to a topic carries an empty topic name and the alias', async () => {
    const topic = freshTopic('alias-out');
    const subscriber = await raw(5, { properties: { topicAliasMaximum: 2 } });
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    publisher.publish(topic, 'one');
    publisher.publish(topic, 'two');
    const [first, second] = await subscriber.nextPublishes(2);
    assert.equal(first!.topicName, topic);
    const alias = first!.properties?.topicAlias;
    assert.ok(alias !== undefined && alias >= 1 && alias <= 2);
    // [MQTT-3.3.2-12] the receiver resolves an empty topic name through the alias.
    assert.equal(second!.topicName, '');
    assert.equal(second!.properties?.topicAlias, alias);
    assert.equal(second!.payload.toString(), 'two');
  });

  test('a client that sets no Topic Alias Maximum never receives an alias', async () => {
    const topic = freshTopic('alias-none');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    publisher.publish(topic, 'one');
    publisher.publish(topic, 'two');
    const messages = await subscriber.nextPublishes(2);
    // [MQTT-3.3.2-9] the server must not send an alias greater than the client's maximum (0 = none).
    for (const message of messages) {
      assert.equal(message.topicName, topic);
      assert.equal(message.properties?.topicAlias, undefined);
    }
  });

  test('MQTT.js with topicAliasMaximum sees every message on its full topic', async () => {
    const topic = freshTopic('alias-mqttjs');
    const subscriber = resources.add(
      await connectClient(server.mqttUrl, { protocolVersion: 5, properties: { topicAliasMaximum: 3 } }),
    );
    await subscriber.client.subscribeAsync(topic, { qos: 1 });
    const publisher = await raw(5);
    for (let i = 0; i < 3; i++) publisher.publish(topic, String(i), { qos: 1 });
    const messages = await subscriber.waitForMessages(3);
    assert.deepEqual(
      messages.map((m) => [m.topic, m.payload]),
      [0, 1, 2].map((i) => [topic, String(i)]),
    );
  });
});

describe('Maximum Packet Size', () => {
  let small: TestServer;
  before(async () => {
    small = await startTestServer({ mqtt: { maxPacketSizeBytes: 1_024 } });
  });
  after(() => small.close());

  test('v5: a PUBLISH larger than mqtt.maxPacketSizeBytes is answered with DISCONNECT 0x95', async () => {
    const { client, connack } = await WireClient.connect(small.mqttPort, 5);
    resources.add(client);
    assert.equal(connack.properties?.maximumPacketSize, 1_024);
    client.publish('big/one', Buffer.alloc(2_000, 1));
    // MQTT 5 §3.2.2.3.6, §3.1.2.11.4: a packet above the server's Maximum Packet Size is a 0x95 Packet too large.
    assert.equal((await client.nextDisconnect()).reasonCode, ReasonCode.PacketTooLarge);
    await client.closed();
  });

  test('3.1.1: a PUBLISH larger than the limit closes the connection', async () => {
    const { client } = await WireClient.connect(small.mqttPort, 4);
    resources.add(client);
    client.publish('big/one', Buffer.alloc(2_000, 1));
    await client.closed();
    assert.equal(client.received.filter((p) => p.type === PacketType.Disconnect).length, 0);
  });

  test('a message too big for one subscriber is dropped for that subscriber only', async () => {
    const topic = freshTopic('max-size');
    const limited = await raw(5, { properties: { maximumPacketSize: 200 } });
    await limited.subscribe(topic, 1);
    const unlimited = await raw(5);
    await unlimited.subscribe(topic, 1);
    const droppedBefore = server.broker.stats.messagesDropped;
    const publisher = await raw(5);
    publisher.publish(topic, Buffer.alloc(500, 0x61), { qos: 1 });
    publisher.publish(topic, 'small', { qos: 1 });

    const received = await unlimited.nextPublishes(2);
    assert.deepEqual(
      received.map((p) => p.payload.length),
      [500, 5],
    );
    // [MQTT-3.1.2-25] the server must not send a packet above the client's Maximum Packet Size: it discards it.
    const [onlyOne] = await limited.nextPublishes(1);
    assert.equal(onlyOne!.payload.toString(), 'small');
    limited.ack(PacketType.Puback, onlyOne!.packetId);
    await limited.sync();
    assert.equal(limited.unread(PacketType.Publish).length, 0);
    assert.equal(server.broker.stats.messagesDropped - droppedBefore, 1);
  });
});

describe('application properties', () => {
  test('User Properties, Response Topic, Correlation Data, Content Type and Payload Format Indicator arrive unchanged', async () => {
    const topic = freshTopic('props');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 1);
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await publisher.client.publishAsync(topic, 'héllo', {
      qos: 1,
      properties: {
        userProperties: { region: 'eu', tag: ['a', 'b'] },
        responseTopic: 'replies/here',
        correlationData: Buffer.from([0, 1, 2, 0xff]),
        contentType: 'text/plain; charset=utf-8',
        payloadFormatIndicator: true,
      },
    });
    const [message] = await subscriber.nextPublishes(1);
    const properties = message!.properties;
    // [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20] [MQTT-3.3.2-4] forwarded unaltered, in order.
    assert.deepEqual(properties?.userProperties, [
      ['region', 'eu'],
      ['tag', 'a'],
      ['tag', 'b'],
    ]);
    assert.equal(properties?.responseTopic, 'replies/here');
    assert.deepEqual(properties?.correlationData, Buffer.from([0, 1, 2, 0xff]));
    assert.equal(properties?.contentType, 'text/plain; charset=utf-8');
    assert.equal(properties?.payloadFormatIndicator, 1);
    assert.equal(message!.payload.toString(), 'héllo');
  });

  test('a 3.1.1 subscriber gets the payload of a v5 message with properties, and none of them', async () => {
    const topic = freshTopic('props-v4');
    const subscriber = await raw(4);
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    publisher.publish(topic, 'plain', { properties: { userProperties: [['k', 'v']], contentType: 'text/plain' } });
    const [message] = await subscriber.nextPublishes(1);
    assert.equal(message!.payload.toString(), 'plain');
    assert.equal(message!.properties, undefined);
  });

  test('invalid UTF-8 with Payload Format Indicator 1 is refused with PUBACK 0x99 and not delivered', async () => {
    const topic = freshTopic('pfi');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 1);
    const publisher = await raw(5);
    const badId = publisher.publish(topic, Buffer.from([0xc3, 0x28]), {
      qos: 1,
      properties: { payloadFormatIndicator: 1 },
    });
    // [MQTT-3.3.2-4] the receiver may refuse a payload that does not match its format indicator with 0x99.
    const puback = await nextAck(publisher, badId);
    assert.equal(puback.reasonCode, ReasonCode.PayloadFormatInvalid);
    const goodId = publisher.publish(topic, 'ok', { qos: 1, properties: { payloadFormatIndicator: 1 } });
    assert.equal((await nextAck(publisher, goodId)).reasonCode, 0);
    const [delivered] = await subscriber.nextPublishes(1);
    assert.equal(delivered!.payload.toString(), 'ok');
  });

  test('the same bytes with Payload Format Indicator 0 are delivered as they are', async () => {
    const topic = freshTopic('pfi0');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    const id = publisher.publish(topic, Buffer.from([0xc3, 0x28]), {
      qos: 1,
      properties: { payloadFormatIndicator: 0 },
    });
    assert.equal((await nextAck(publisher, id)).reasonCode, 0);
    const [delivered] = await subscriber.nextPublishes(1);
    assert.deepEqual(delivered!.payload, Buffer.from([0xc3, 0x28]));
  });
});

describe('Subscription Identifiers', () => {
  test('two overlapping subscriptions give one delivery carrying both identifiers at the higher QoS', async () => {
    const base = freshTopic('subid');
    const subscriber = await raw(5);
    await subscriber.subscribe(`${base}/+`, 0, { subscriptionIdentifiers: [7] });
    await subscriber.subscribe(`${base}/x`, 1, { subscriptionIdentifiers: [300] });
    const publisher = await raw(5);
    publisher.publish(`${base}/x`, 'both', { qos: 1 });
    publisher.publish(`${base}/y`, 'one', { qos: 1 });
    const [both, one] = await subscriber.nextPublishes(2);
    // [MQTT-3.3.4-2] one copy per overlapping match set at the maximum QoS; [MQTT-3.3.4-3] every identifier.
    assert.equal(both!.payload.toString(), 'both');
    assert.equal(both!.qos, 1);
    assert.deepEqual(
      [...(both!.properties?.subscriptionIdentifiers ?? [])].sort((a, b) => a - b),
      [7, 300],
    );
    assert.equal(one!.payload.toString(), 'one');
    assert.equal(one!.qos, 0);
    assert.deepEqual(one!.properties?.subscriptionIdentifiers, [7]);
    subscriber.ack(PacketType.Puback, both!.packetId);
    await subscriber.sync();
    assert.equal(subscriber.unread(PacketType.Publish).length, 0, 'exactly one copy per message');
  });

  test('a subscription without an identifier delivers none', async () => {
    const topic = freshTopic('subid-none');
    const subscriber = await raw(5);
    await subscriber.subscribe(topic, 0);
    const publisher = await raw(5);
    publisher.publish(topic, 'x');
    const [message] = await subscriber.nextPublishes(1);
    assert.equal(message!.properties?.subscriptionIdentifiers, undefined);
  });

  test('a subscription identifier from a client in PUBLISH is a protocol error (DISCONNECT 0x82)', async () => {
    const publisher = await raw(5);
    // [MQTT-3.3.4-6] a PUBLISH from a client must not contain a Subscription Identifier.
    publisher.publish(freshTopic('subid-bad'), 'x', { properties: { subscriptionIdentifiers: [1] } });
    assert.equal((await publisher.nextDisconnect()).reasonCode, ReasonCode.ProtocolError);
  });
});

describe('server DISCONNECT, reason strings, problem and response information', () => {
  test('v5 clients are sent DISCONNECT 0x8B with a reason string when the broker shuts down; 3.1.1 clients are just closed', async () => {
    const own = await startTestServer();
    try {
      const { client: v5 } = await WireClient.connect(own.mqttPort, 5);
      const { client: v4 } = await WireClient.connect(own.mqttPort, 4);
      const mqttJs = await connectClient(own.mqttUrl, { protocolVersion: 5 });
      const seen = new Promise<number | undefined>((resolve) => {
        mqttJs.client.once('disconnect', (packet) => {
          resolve(packet.reasonCode);
        });
      });
      await own.server.close();
      // [MQTT-4.13.2-1] the server sends DISCONNECT with a reason code before closing the connection.
      const disconnect = await v5.nextDisconnect();
      assert.equal(disconnect.reasonCode, ReasonCode.ServerShuttingDown);
      assert.equal(typeof disconnect.properties?.reasonString, 'string');
      await v5.closed();
      await v4.closed();
      assert.equal(v4.received.filter((p) => p.type === PacketType.Disconnect).length, 0);
      assert.equal(await seen, ReasonCode.ServerShuttingDown);
      await clientClosed(mqttJs.client);
      mqttJs.client.end(true);
    } finally {
      await own.close();
    }
  });

  test('Request Problem Information 0: a refused SUBACK and PUBACK carry no reason string', async () => {
    const own = resources.add(
      await startTestServer({ acl: [{ action: 'subscribe', topic: 'rpi/denied', allow: false }] }),
    );
    for (const requestProblemInformation of [0, 1]) {
      const { client } = await WireClient.connect(own.mqttPort, 5, { properties: { requestProblemInformation } });
      resources.add(client);
      const suback = await client.subscribe('rpi/denied', 1);
      assert.deepEqual(suback.reasonCodes, [ReasonCode.NotAuthorized]);
      const id = client.publish('rpi/x', Buffer.from([0xff]), { qos: 1, properties: { payloadFormatIndicator: 1 } });
      const puback = await nextAck(client, id);
      assert.equal(puback.reasonCode, ReasonCode.PayloadFormatInvalid);
      if (requestProblemInformation === 0) {
        // [MQTT-3.1.2-29] no Reason String on anything but PUBLISH, CONNACK and DISCONNECT.
        assert.equal(suback.properties?.reasonString, undefined);
        assert.equal(puback.properties?.reasonString, undefined);
      }
    }
  });

  test('Request Response Information 1 gets Response Information in CONNACK; without it there is none', async () => {
    const asked = await WireClient.connect(server.mqttPort, 5, { properties: { requestResponseInformation: 1 } });
    resources.add(asked.client);
    const info = asked.connack.properties?.responseInformation;
    assert.equal(typeof info, 'string');
    assert.ok(info!.length > 0);
    const notAsked = await WireClient.connect(server.mqttPort, 5);
    resources.add(notAsked.client);
    // [MQTT-3.1.2-28] no Response Information unless requested.
    assert.equal(notAsked.connack.properties?.responseInformation, undefined);
  });

  test('an AUTH packet after CONNECT is answered with DISCONNECT 0x8C: enhanced authentication is not offered', async () => {
    const client = await raw(5);
    client.send({ type: PacketType.Auth, reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    const disconnect = await client.nextDisconnect();
    assert.equal(disconnect.reasonCode, ReasonCode.BadAuthenticationMethod);
    await client.closed();
  });

  test('a CONNECT with an Authentication Method is refused with CONNACK 0x8C', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5, {
      properties: { authenticationMethod: 'SCRAM-SHA-1' },
    });
    resources.add(client);
    // [MQTT-4.12.0-1] an unsupported method: CONNACK 0x8C and close.
    assert.equal(connack.reasonCode, ReasonCode.BadAuthenticationMethod);
    await client.closed();
  });
});
