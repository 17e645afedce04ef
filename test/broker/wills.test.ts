/**
 * Will messages: published on keepalive timeout and network loss, not on a normal DISCONNECT; v5 DISCONNECT 0x04,
 * Will Delay Interval (and its cancellation by a resumed session), will properties, retained wills.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PacketType } from '../../src/mqtt/codec/index.js';
import type { Properties, QoS, WillMessage } from '../../src/mqtt/codec/index.js';
import { connectClient, PROTOCOL_VERSIONS, Resources, sleep, type TestClient } from '../helpers/mqtt-js.js';
import { WireClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

let counter = 0;
function freshTopic(name: string): string {
  return `wills/${name}/${String(++counter)}`;
}

interface WillClientOptions {
  clientId?: string;
  keepAliveSeconds?: number;
  cleanStart?: boolean;
  properties?: Properties;
}

/** A raw client whose CONNECT carries `will` (the shared helper's CONNECT has none). */
async function connectWithWill(
  version: 4 | 5,
  will: WillMessage,
  options: WillClientOptions = {},
): Promise<WireClient> {
  const client = resources.add(await WireClient.open(server.mqttPort, version));
  client.send({
    type: PacketType.Connect,
    protocolName: 'MQTT',
    protocolVersion: version,
    cleanStart: options.cleanStart ?? true,
    keepAliveSeconds: options.keepAliveSeconds ?? 0,
    clientId: options.clientId ?? `will-${String(++counter)}`,
    username: undefined,
    password: undefined,
    will,
    properties: version === 5 ? options.properties : undefined,
  });
  const connack = await client.next(PacketType.Connack);
  assert.equal(connack.reasonCode, 0);
  return client;
}

function will(
  topicName: string,
  payload: string,
  extra: { qos?: QoS; isRetained?: boolean; properties?: Properties } = {},
): WillMessage {
  return {
    topicName,
    payload: Buffer.from(payload),
    qos: extra.qos ?? 1,
    isRetained: extra.isRetained ?? false,
    properties: extra.properties,
  };
}

async function subscriber(version: 4 | 5, topic: string): Promise<TestClient> {
  const client = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
  await client.client.subscribeAsync(topic, { qos: 1 });
  return client;
}

/**
 * Proves a will was NOT published: a marker published after the moment the will would have gone out arrives, and
 * it is the only message on the topic (the broker handles both in order).
 */
async function assertOnlyMarker(watcher: TestClient, topic: string): Promise<void> {
  const marker = await connectClient(server.mqttUrl);
  resources.add(marker);
  await marker.client.publishAsync(topic, 'marker', { qos: 1 });
  const messages = await watcher.waitForMessages(1, (m) => m.topic === topic);
  assert.deepEqual(
    messages.map((m) => m.payload),
    ['marker'],
  );
}

for (const version of PROTOCOL_VERSIONS) {
  describe(`wills, MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
    test('the will is published when the client stops talking for 1.5 x its keepalive', async () => {
      const topic = freshTopic('keepalive');
      const watcher = await subscriber(version, topic);
      const client = await connectWithWill(version, will(topic, 'gone quiet'), { keepAliveSeconds: 1 });
      const startedAt = Date.now();
      // [MQTT-3.1.2-24] closed after 1.5 x keepalive without a packet; [MQTT-3.1.2-8] the will is then published.
      const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
      assert.equal(message!.payload, 'gone quiet');
      assert.ok(Date.now() - startedAt >= 1_000, 'not before the keepalive ran out');
      await client.closed();
    });

    test('the will is published when the network connection is lost', async () => {
      const topic = freshTopic('network-loss');
      const watcher = await subscriber(version, topic);
      const client = await connectWithWill(version, will(topic, 'lost'));
      await client.destroy();
      const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
      assert.equal(message!.payload, 'lost');
      assert.equal(message!.packet.qos, 1);
    });

    test('the will is not published after a normal DISCONNECT', async () => {
      const topic = freshTopic('normal');
      const watcher = await subscriber(version, topic);
      const client = await connectWithWill(version, will(topic, 'should not appear'));
      // [MQTT-3.1.2-10] / [MQTT-3.14.4-3] DISCONNECT discards the will.
      await client.close(true);
      await assertOnlyMarker(watcher, topic);
    });

    test('a retained will is kept for later subscribers', async () => {
      const topic = freshTopic('retained');
      const client = await connectWithWill(version, will(topic, 'last words', { isRetained: true }));
      const early = await subscriber(version, topic);
      await client.destroy();
      await early.waitForMessages(1, (m) => m.topic === topic);
      const late = await subscriber(version, topic);
      // [MQTT-3.1.2-17] Will Retain 1: published as a retained message.
      const [message] = await late.waitForMessages(1, (m) => m.topic === topic);
      assert.equal(message!.payload, 'last words');
      assert.equal(message!.packet.retain, true);
    });

    test('a client taken over by a new connection with the same client id has its will published', async () => {
      const topic = freshTopic('takeover');
      const clientId = `takeover-${String(counter)}`;
      const watcher = await subscriber(version, topic);
      const first = await connectWithWill(version, will(topic, 'taken over'), { clientId });
      const second = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version, clientId }));
      await first.closed();
      // [MQTT-3.1.4-3] the old connection is closed "as if it had lost the network": its will goes out.
      const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
      assert.equal(message!.payload, 'taken over');
      assert.ok(second.client.connected);
    });
  });
}

describe('wills, MQTT 5 only', () => {
  test('DISCONNECT with reason 0x04 publishes the will', async () => {
    const topic = freshTopic('disconnect-with-will');
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'asked for'));
    // MQTT 5 §3.14.2.1: 0x04 Disconnect with Will Message: the server publishes the will.
    client.send({ type: PacketType.Disconnect, reasonCode: 0x04, properties: undefined });
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    assert.equal(message!.payload, 'asked for');
    await client.closed();
  });

  test('will properties are forwarded with the will', async () => {
    const topic = freshTopic('properties');
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(
      5,
      will(topic, '{"state":"offline"}', {
        properties: {
          contentType: 'application/json',
          payloadFormatIndicator: 1,
          responseTopic: 'status/reply',
          correlationData: Buffer.from('abc'),
          userProperties: [['reason', 'crash']],
          messageExpiryInterval: 120,
        },
      }),
    );
    await client.destroy();
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    const properties = message!.packet.properties;
    // MQTT 5 §3.1.3.2: will properties travel with the will message.
    assert.equal(properties?.contentType, 'application/json');
    assert.equal(properties?.payloadFormatIndicator, true);
    assert.equal(properties?.responseTopic, 'status/reply');
    assert.deepEqual(properties?.correlationData, Buffer.from('abc'));
    assert.deepEqual({ ...properties?.userProperties }, { reason: 'crash' });
    const expiry = properties?.messageExpiryInterval;
    assert.ok(expiry !== undefined && expiry <= 120 && expiry > 100, `expiry ${String(expiry)}`);
  });

  test('a will whose Message Expiry Interval is shorter than the connection lived is still published', async () => {
    const topic = freshTopic('expiry-from-publication');
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'still fresh', { properties: { messageExpiryInterval: 1 } }));
    // Time is the behaviour: the connection outlives the will's expiry interval.
    await sleep(1_300);
    await client.destroy();
    // The interval is the will message's lifetime once published ([MQTT-3.3.2-5] applied to the will).
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    assert.equal(message!.payload, 'still fresh');
    assert.equal(message!.packet.properties?.messageExpiryInterval, 1);
  });

  test('a will with a Will Delay Interval is published after the delay, not before', async () => {
    const topic = freshTopic('delay');
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'delayed', { properties: { willDelayInterval: 1 } }), {
      properties: { sessionExpiryInterval: 30 },
    });
    const lostAt = Date.now();
    await client.destroy();
    // [MQTT-3.1.3-9] the server delays publishing the will until the Will Delay Interval has passed.
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    const waitedMs = Date.now() - lostAt;
    assert.equal(message!.payload, 'delayed');
    assert.ok(waitedMs >= 900, `published after ${String(waitedMs)} ms`);
  });

  test('reconnecting with Clean Start 0 within the Will Delay Interval cancels the will', async () => {
    const topic = freshTopic('delay-cancelled');
    const clientId = `delay-cancel-${String(counter)}`;
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'cancelled', { properties: { willDelayInterval: 1 } }), {
      clientId,
      properties: { sessionExpiryInterval: 30 },
    });
    await client.destroy();
    const { client: resumed, connack } = await WireClient.connect(server.mqttPort, 5, {
      clientId,
      cleanStart: false,
      properties: { sessionExpiryInterval: 30 },
    });
    resources.add(resumed);
    assert.equal(connack.sessionPresent, true);
    // Time is the behaviour: wait past the delay, then prove nothing was published.
    await sleep(1_500);
    await assertOnlyMarker(watcher, topic);
  });

  test('reconnecting with Clean Start 1 within the delay ends the session, so the will is published at once', async () => {
    const topic = freshTopic('delay-clean');
    const clientId = `delay-clean-${String(counter)}`;
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'session ended', { properties: { willDelayInterval: 30 } }), {
      clientId,
      properties: { sessionExpiryInterval: 60 },
    });
    await client.destroy();
    const { client: fresh } = await WireClient.connect(server.mqttPort, 5, { clientId, cleanStart: true });
    resources.add(fresh);
    // [MQTT-3.1.3-9] the will is published when the session ends, if that is before the delay.
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    assert.equal(message!.payload, 'session ended');
  });

  test('a will delay longer than the session expiry is published when the session ends', async () => {
    const topic = freshTopic('delay-expiry');
    const watcher = await subscriber(5, topic);
    const client = await connectWithWill(5, will(topic, 'expired', { properties: { willDelayInterval: 600 } }), {
      properties: { sessionExpiryInterval: 1 },
    });
    const lostAt = Date.now();
    await client.destroy();
    const [message] = await watcher.waitForMessages(1, (m) => m.topic === topic);
    const waitedMs = Date.now() - lostAt;
    assert.equal(message!.payload, 'expired');
    assert.ok(waitedMs >= 900 && waitedMs < 4_000, `published after ${String(waitedMs)} ms`);
  });
});
