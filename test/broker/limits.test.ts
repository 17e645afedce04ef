/**
 * Limits: maximum packet size, the bounded per-client queue (QoS 0 dropped first, every drop counted), topic length
 * and levels, subscriptions per client, and a slow subscriber that must neither slow the others nor hold memory
 * past the drain deadline.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PacketType, ReasonCode } from '../../src/mqtt/codec/index.js';
import type { AckPacket, PublishPacket } from '../../src/mqtt/codec/index.js';
import { connectClient, PROTOCOL_VERSIONS, Resources, waitFor } from '../helpers/mqtt-js.js';
import { WireClient } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

const versionName = (version: 4 | 5): string => (version === 5 ? 'MQTT 5' : 'MQTT 3.1.1');

function nextAck(client: WireClient, type: AckPacket['type'], packetId: number): Promise<AckPacket> {
  return client.next(type, (p) => p.packetId === packetId);
}

async function wire(
  port: number,
  version: 4 | 5,
  options: Parameters<typeof WireClient.connect>[2] = {},
): Promise<WireClient> {
  const { client, connack } = await WireClient.connect(port, version, options);
  assert.equal(connack.reasonCode, 0);
  return resources.add(client);
}

describe('maximum packet size', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('the default limit is 1 MiB and is announced in the v5 CONNACK', async () => {
    const { client, connack } = await WireClient.connect(server.mqttPort, 5);
    resources.add(client);
    assert.equal(connack.properties?.maximumPacketSize, 1_048_576);
  });

  for (const version of PROTOCOL_VERSIONS) {
    test(`${versionName(version)}: a message just under 1 MiB is delivered; one over it closes the publisher (v5 with 0x95)`, async () => {
      const subscriber = await wire(server.mqttPort, version);
      await subscriber.subscribe('big', 0);
      const publisher = await wire(server.mqttPort, version);
      publisher.publish('big', Buffer.alloc(1_048_000, 7));
      const [delivered] = await subscriber.nextPublishes(1);
      assert.equal(delivered!.payload.length, 1_048_000);
      publisher.publish('big', Buffer.alloc(1_048_577, 7));
      if (version === 5) assert.equal((await publisher.nextDisconnect()).reasonCode, ReasonCode.PacketTooLarge);
      await publisher.closed();
      await subscriber.sync();
      assert.equal(subscriber.unread(PacketType.Publish).length, 0, 'the oversized message was not routed');
    });
  }
});

describe('bounded queue per client', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ mqtt: { maxQueuedMessages: 5, maxInflight: 1 } });
  });
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    test(`${versionName(version)}: a full queue drops QoS 0 first, then refuses new messages, and counts every drop`, async () => {
      const topic = `queue/${String(version)}`;
      // A subscriber that does not acknowledge: one QoS 1 message in flight (maxInflight 1), the rest queue.
      const subscriber = await wire(server.mqttPort, version);
      await subscriber.subscribe(topic, 1);
      const publisher = await wire(server.mqttPort, version);
      const droppedBefore = server.broker.stats.messagesDropped;
      const send = async (payload: string, qos: 0 | 1): Promise<void> => {
        const id = publisher.publish(topic, payload, { qos });
        if (qos === 1) await nextAck(publisher, PacketType.Puback, id);
      };
      await send('inflight', 1);
      await subscriber.next(PacketType.Publish);
      // QoS 0 goes straight out while nothing is queued, so queue QoS 1 first; then the queue (limit 5) fills:
      // q1-1 q1-2 q0-a q0-b q0-c → q1-3 evicts q0-a → q0-d evicts q0-b → extra-0, extra-1 evict q0-c, q0-d.
      for (const payload of ['q1-1', 'q1-2']) await send(payload, 1);
      for (const payload of ['q0-a', 'q0-b', 'q0-c']) await send(payload, 0);
      await send('q1-3', 1);
      await send('q0-d', 0);
      // With no QoS 0 left to evict, further messages are refused (dropped and counted).
      for (let i = 0; i < 20; i++) await send(`extra-${String(i)}`, 1);
      await publisher.sync();
      assert.equal(server.broker.stats.messagesDropped - droppedBefore, 4 + 18);

      const inflight = subscriber.received.find((p): p is PublishPacket => p.type === PacketType.Publish)!;
      const delivered: string[] = [];
      const drain = async (packet: PublishPacket): Promise<void> => {
        delivered.push(packet.payload.toString());
        if (packet.qos === 1) subscriber.ack(PacketType.Puback, packet.packetId);
        await Promise.resolve();
      };
      await drain(inflight);
      while (delivered.length < 6) await drain(await subscriber.next(PacketType.Publish));
      await subscriber.sync();
      assert.deepEqual(delivered, ['inflight', 'q1-1', 'q1-2', 'q1-3', 'extra-0', 'extra-1']);
      assert.equal(subscriber.unread(PacketType.Publish).length, 0, 'nothing beyond the bound was kept');
    });
  }
});

describe('topic length, topic levels and subscriptions per client', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      mqtt: { maxTopicLengthBytes: 32, maxTopicLevels: 4, maxSubscriptionsPerClient: 3 },
    });
  });
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    describe(versionName(version), () => {
      const refused = version === 5 ? ReasonCode.TopicFilterInvalid : 0x80;

      test('a filter with too many levels or bytes is refused in SUBACK (0x8F / 0x80); one at the limits is granted', async () => {
        const client = await wire(server.mqttPort, version);
        const suback = await client.subscribe([
          { topicFilter: 'a/b/c/d', qos: 0 },
          { topicFilter: 'a/b/c/d/e', qos: 0 },
          { topicFilter: 'x'.repeat(33), qos: 0 },
        ]);
        assert.deepEqual(suback.reasonCodes, [0, refused, refused]);
      });

      test('a PUBLISH to a topic with too many levels is an invalid topic name: the connection closes (v5 0x90)', async () => {
        const client = await wire(server.mqttPort, version);
        client.publish('a/b/c/d/e', 'x', { qos: 1 });
        if (version === 5) assert.equal((await client.nextDisconnect()).reasonCode, ReasonCode.TopicNameInvalid);
        await client.closed();
      });

      test('a PUBLISH to a topic longer than the limit closes the connection (v5 0x90)', async () => {
        const client = await wire(server.mqttPort, version);
        client.publish('y'.repeat(33), 'x');
        if (version === 5) assert.equal((await client.nextDisconnect()).reasonCode, ReasonCode.TopicNameInvalid);
        await client.closed();
      });

      test('subscriptions beyond the per-client limit are refused (0x97 / 0x80); re-subscribing an existing filter is not', async () => {
        const client = await wire(server.mqttPort, version);
        const first = await client.subscribe([
          { topicFilter: 's/1', qos: 0 },
          { topicFilter: 's/2', qos: 0 },
          { topicFilter: 's/3', qos: 0 },
          { topicFilter: 's/4', qos: 0 },
        ]);
        assert.deepEqual(first.reasonCodes, [0, 0, 0, version === 5 ? ReasonCode.QuotaExceeded : 0x80]);
        // [MQTT-3.8.4-3] the same filter again replaces the subscription: no new slot needed.
        assert.deepEqual((await client.subscribe('s/2', 1)).reasonCodes, [1]);
      });
    });
  }
});

describe('slow subscribers', () => {
  const MESSAGE_COUNT = 2_000;
  const BATCH = 8;
  const PAYLOAD = Buffer.alloc(8_192, 0x5a);

  async function floodWithSlowSubscriber(
    server: TestServer,
    topic: string,
  ): Promise<{ slow: WireClient; droppedBefore: number }> {
    const slow = await wire(server.mqttPort, 5);
    await slow.subscribe(topic, 0);
    slow.socket.pause(); // never reads again: its socket fills up
    const normal = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await normal.client.subscribeAsync(topic, { qos: 0 });
    const publisher = await wire(server.mqttPort, 5);
    const droppedBefore = server.broker.stats.messagesDropped;
    // In batches the reading subscriber can keep up with (its own queue is small too): each batch must reach it
    // within the usual wait while the stuck subscriber's socket is full.
    for (let sent = 0; sent < MESSAGE_COUNT;) {
      for (let i = 0; i < BATCH; i++, sent++) publisher.publish(topic, PAYLOAD);
      await normal.waitForMessages(sent);
    }
    assert.equal(normal.messages.length, MESSAGE_COUNT);
    return { slow, droppedBefore };
  }

  test('a subscriber that never reads does not slow another subscriber, and its overflow is counted as dropped', async () => {
    const server = resources.add(await startTestServer({ mqtt: { maxQueuedMessages: 10 } }));
    const { droppedBefore } = await floodWithSlowSubscriber(server, 'slow/flood');
    // 16 MB cannot fit in the socket buffers plus a 10-message queue: the rest was dropped for the slow one alone.
    assert.ok(server.broker.stats.messagesDropped - droppedBefore > 0, 'drops counted');
    assert.equal(server.broker.stats.clientsConnected, 3, 'the slow subscriber is still connected');
  });

  test('a subscriber whose socket stays full past mqtt.drainDeadlineMs is disconnected', async () => {
    const server = resources.add(await startTestServer({ mqtt: { maxQueuedMessages: 10, drainDeadlineMs: 200 } }));
    const { slow } = await floodWithSlowSubscriber(server, 'slow/deadline');
    await waitFor(() => server.broker.stats.clientsConnected === 2, 'the stuck subscriber to be disconnected');
    slow.socket.resume();
    await slow.closed();
  });
});

describe('retained messages limit', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ mqtt: { maxRetainedMessages: 12, sysIntervalSeconds: 3600 } });
  });
  after(() => server.close());

  test('past mqtt.maxRetainedMessages a new retained topic is delivered live but not kept, and the drop is counted', async () => {
    // $SYS topics are retained too (published once at start, then hourly here): fill what is left with our own.
    const publisher = resources.add(await connectClient(server.mqttUrl));
    const live = resources.add(await connectClient(server.mqttUrl));
    await live.client.subscribeAsync('kept/#', { qos: 1 });
    const room = 12 - server.broker.stats.retainedMessages;
    assert.ok(room > 1, 'the test needs room for at least two retained topics');
    for (let i = 0; i < room; i++)
      await publisher.client.publishAsync(`kept/${String(i)}`, 'v', { qos: 1, retain: true });
    const droppedBefore = server.broker.stats.messagesDropped;
    await publisher.client.publishAsync('kept/overflow', 'live only', { qos: 1, retain: true });
    await live.waitForMessages(room + 1);
    assert.equal(server.broker.stats.retainedMessages, 12);
    assert.equal(server.broker.stats.messagesDropped, droppedBefore + 1);
    // A topic already retained may still be replaced at the limit.
    await publisher.client.publishAsync('kept/0', 'replaced', { qos: 1, retain: true });
    const late = resources.add(await connectClient(server.mqttUrl));
    await late.client.subscribeAsync('kept/#', { qos: 1 });
    const retained = await late.waitForMessages(room);
    assert.deepEqual(new Set(retained.map((m) => m.topic)).has('kept/overflow'), false);
    assert.equal(retained.find((m) => m.topic === 'kept/0')?.payload, 'replaced');
  });
});
