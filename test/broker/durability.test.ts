/**
 * Durability: sessions, queued and in-flight QoS 1/2 state, incoming QoS 2 state and retained messages survive a
 * graceful restart (in-process close + start on the same data dir) and a kill -9 of a server process. The key
 * guarantee: a QoS 1/2 message acknowledged to its publisher is durable for every persistent session it is queued for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { encodePacket, PacketType } from '../../src/mqtt/codec/index.js';
import type { AckPacket, ConnackPacket, Properties, PublishPacket, QoS } from '../../src/mqtt/codec/index.js';
import { spawnSwitchboard, startTestServer, WireClient } from '../helpers/index.js';
import type { SwitchboardProcess, WireConnectOptions } from '../helpers/index.js';

type Version = 4 | 5;
const VERSIONS: readonly Version[] = [4, 5];

/** A server that can be stopped, gracefully or not, and started again on the same data directory. */
interface RunningServer {
  port: number;
  stop(): Promise<void>;
}
interface Lifecycle {
  name: string;
  start(dataDir: string): Promise<RunningServer>;
}

const dataDirs: string[] = [];
const children: SwitchboardProcess[] = [];
after(() => {
  for (const child of children) child.kill();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-durability-'));
  dataDirs.push(dir);
  return dir;
}

/** In-process server; stop = `close()` (clients get DISCONNECT 0x8B, the store is flushed and closed). */
const graceful: Lifecycle = {
  name: 'a graceful restart',
  async start(dataDir) {
    const server = await startTestServer({ dataDir });
    return { port: server.mqttPort, stop: () => server.close() };
  },
};

/** Child process; stop = SIGKILL, so only what was committed survives. */
const killed: Lifecycle = {
  name: 'kill -9',
  async start(dataDir) {
    const child = spawnSwitchboard({
      env: {
        SWITCHBOARD_HOST: '127.0.0.1',
        SWITCHBOARD_MQTT_PORT: '0',
        SWITCHBOARD_HTTP_PORT: '0',
        SWITCHBOARD_DATA_DIR: dataDir,
        SWITCHBOARD_LOG_LEVEL: 'warn',
      },
    });
    children.push(child);
    const line = await child.waitForLine(/^MQTT listening on mqtt:\/\//);
    const port = Number(/:(\d+)$/.exec(line)?.[1]);
    assert.ok(port > 0, `port in ${line}`);
    return {
      port,
      stop: async () => {
        child.kill();
        const { signal } = await child.exited;
        assert.equal(signal, 'SIGKILL');
      },
    };
  },
};

const LIFECYCLES: readonly Lifecycle[] = [graceful, killed];

let clientCounter = 0;
function uniqueId(prefix: string): string {
  return `${prefix}-${String(process.pid)}-${String(clientCounter++)}`;
}

/** CONNECT options of a session that outlives its connection (3.1.1 clean session 0, v5 expiry one hour). */
function persistent(version: Version, clientId: string): WireConnectOptions {
  return version === 5
    ? { clientId, cleanStart: false, properties: { sessionExpiryInterval: 3600 } }
    : { clientId, cleanStart: false };
}

async function connectPersistent(
  port: number,
  version: Version,
  clientId: string,
): Promise<{ client: WireClient; connack: ConnackPacket }> {
  const result = await WireClient.connect(port, version, persistent(version, clientId));
  assert.equal(result.connack.reasonCode, 0);
  return result;
}

/** A clean-session client with a server-assigned id. */
async function connectClean(port: number, version: Version): Promise<WireClient> {
  const { client, connack } = await WireClient.connect(port, version);
  assert.equal(connack.reasonCode, 0);
  return client;
}

/**
 * A commit barrier: two PINGREQ round trips. The first PINGREQ may arrive in the same read as the packets before it;
 * the store commit their handling scheduled runs on the `setImmediate` right after that read, so the second PINGREQ,
 * sent only once the first PINGRESP came back, is read after the commit.
 */
async function roundTrip(client: WireClient): Promise<void> {
  await client.sync();
  await client.sync();
}

/** The next PUBACK / PUBREC / PUBREL / PUBCOMP for `packetId`. */
function nextAck(client: WireClient, type: AckPacket['type'], packetId: number): Promise<AckPacket> {
  return client.next(type, (p) => p.packetId === packetId);
}

function publishesOf(client: WireClient): PublishPacket[] {
  return client.received.filter((p): p is PublishPacket => p.type === PacketType.Publish);
}

/** Publishes at QoS 1 or 2 and completes the exchange, so the message is acknowledged (durable) when it returns. */
async function publishAcknowledged(
  client: WireClient,
  topicName: string,
  payload: string,
  qos: 1 | 2,
  options: { isRetained?: boolean; properties?: Properties } = {},
): Promise<void> {
  const packetId = client.publish(topicName, payload, { ...options, qos });
  if (qos === 1) {
    const puback = await nextAck(client, PacketType.Puback, packetId);
    assert.equal(puback.reasonCode, 0);
    return;
  }
  const pubrec = await nextAck(client, PacketType.Pubrec, packetId);
  assert.equal(pubrec.reasonCode, 0);
  client.send({ type: PacketType.Pubrel, packetId, reasonCode: 0, properties: undefined });
  await nextAck(client, PacketType.Pubcomp, packetId);
}

/**
 * Acknowledges every PUBLISH and PUBREL the client receives (already or later), calling `onPublish` for each
 * PUBLISH in arrival order.
 */
function autoAcknowledge(client: WireClient, onPublish: (publish: PublishPacket) => void): void {
  let index = 0;
  const scan = (): void => {
    for (; index < client.received.length; index++) {
      const packet = client.received[index]!;
      if (packet.type === PacketType.Publish) {
        onPublish(packet);
        if (packet.qos === 1)
          client.send({ type: PacketType.Puback, packetId: packet.packetId, reasonCode: 0, properties: undefined });
        if (packet.qos === 2)
          client.send({ type: PacketType.Pubrec, packetId: packet.packetId, reasonCode: 0, properties: undefined });
      } else if (packet.type === PacketType.Pubrel) {
        client.send({ type: PacketType.Pubcomp, packetId: packet.packetId, reasonCode: 0, properties: undefined });
      }
    }
  };
  scan();
  client.socket.on('data', scan);
}

/** Resolves once `predicate` holds, re-checked on every packet the client receives. */
function waitFor(client: WireClient, predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!predicate()) return;
      clearTimeout(timer);
      client.socket.off('data', onData);
      resolve();
    };
    const onData = (): void => {
      setImmediate(check); // after the client's own handlers have recorded the packet
    };
    const timer = setTimeout(() => {
      client.socket.off('data', onData);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    client.socket.on('data', onData);
    check();
  });
}

function payloads(publishes: readonly PublishPacket[]): string[] {
  return publishes.map((p) => p.payload.toString());
}

for (const lifecycle of LIFECYCLES) {
  describe(`broker state survives ${lifecycle.name}`, () => {
    for (const version of VERSIONS) {
      const v = `MQTT ${version === 5 ? '5' : '3.1.1'}`;

      test(`${v}: subscriptions and queued QoS 1/2 messages survive and are delivered in order`, async () => {
        const dataDir = newDataDir();
        let server = await lifecycle.start(dataDir);
        const subscriberId = uniqueId('queued-sub');
        const { client: subscriber } = await connectPersistent(server.port, version, subscriberId);
        assert.deepEqual((await subscriber.subscribe('q/two', 2)).reasonCodes, [2]);
        assert.deepEqual((await subscriber.subscribe('q/one', 1)).reasonCodes, [1]);
        await subscriber.close();

        const publisher = await connectClean(server.port, version);
        const sent: { topic: string; qos: 1 | 2; payload: string }[] = [];
        for (let i = 0; i < 6; i++) {
          const message =
            i % 2 === 0
              ? { topic: 'q/two', qos: 2 as const, payload: `m${i}` }
              : { topic: 'q/one', qos: 1 as const, payload: `m${i}` };
          await publishAcknowledged(publisher, message.topic, message.payload, message.qos);
          sent.push(message);
        }
        await publisher.destroy();

        await server.stop();
        server = await lifecycle.start(dataDir);

        const { client: resumed, connack } = await connectPersistent(server.port, version, subscriberId);
        assert.equal(connack.sessionPresent, true, '[MQTT-3.2.2-2] the stored session is resumed');
        const received: PublishPacket[] = [];
        autoAcknowledge(resumed, (p) => received.push(p));
        await waitFor(resumed, () => received.length >= sent.length, 'the queued messages');
        // [MQTT-4.6.0-6] in the order they were published.
        assert.deepEqual(
          payloads(received),
          sent.map((m) => m.payload),
        );
        assert.deepEqual(
          received.map((p) => [p.topicName, p.qos]),
          sent.map((m) => [m.topic, m.qos]),
        );

        // The subscriptions themselves survived: a new message is routed without subscribing again.
        const later = await connectClean(server.port, version);
        await publishAcknowledged(later, 'q/one', 'after-restart', 1);
        await waitFor(resumed, () => received.length === sent.length + 1, 'a message published after the restart');
        assert.equal(received.at(-1)?.payload.toString(), 'after-restart');
        await later.destroy();
        await resumed.destroy();
        await server.stop();
      });

      test(`${v}: in-flight QoS 1/2 deliveries are resent with the same packet id and DUP, PUBREL is resent`, async () => {
        const dataDir = newDataDir();
        let server = await lifecycle.start(dataDir);
        const subscriberId = uniqueId('inflight-sub');
        const { client: subscriber } = await connectPersistent(server.port, version, subscriberId);
        assert.deepEqual((await subscriber.subscribe('f/#', 2)).reasonCodes, [2]);

        const publisher = await connectClean(server.port, version);
        await publishAcknowledged(publisher, 'f/1', 'qos1', 1);
        await publishAcknowledged(publisher, 'f/2', 'qos2', 2);
        await publishAcknowledged(publisher, 'f/3', 'qos2-released', 2);
        const first = await subscriber.next(PacketType.Publish, (p) => p.topicName === 'f/1');
        const second = await subscriber.next(PacketType.Publish, (p) => p.topicName === 'f/2');
        const third = await subscriber.next(PacketType.Publish, (p) => p.topicName === 'f/3');
        assert.deepEqual([first.qos, second.qos, third.qos], [1, 2, 2]);
        // f/1 and f/2 stay unacknowledged; f/3 gets PUBREC, so the server owes it a PUBREL and waits for PUBCOMP.
        subscriber.send({ type: PacketType.Pubrec, packetId: third.packetId, reasonCode: 0, properties: undefined });
        await nextAck(subscriber, PacketType.Pubrel, third.packetId);
        await roundTrip(subscriber);
        await publisher.destroy();

        await server.stop();
        server = await lifecycle.start(dataDir);

        const { client: resumed, connack } = await connectPersistent(server.port, version, subscriberId);
        assert.equal(connack.sessionPresent, true);
        // [MQTT-4.4.0-1] unacknowledged PUBLISH packets are resent with their original packet ids and DUP set.
        const again1 = await resumed.next(PacketType.Publish, (p) => p.topicName === 'f/1');
        assert.deepEqual(
          [again1.packetId, again1.isDuplicate, again1.qos, again1.payload.toString()],
          [first.packetId, true, 1, 'qos1'],
        );
        const again2 = await resumed.next(PacketType.Publish, (p) => p.topicName === 'f/2');
        assert.deepEqual(
          [again2.packetId, again2.isDuplicate, again2.qos, again2.payload.toString()],
          [second.packetId, true, 2, 'qos2'],
        );
        // [MQTT-4.4.0-1] a PUBREL not yet completed is resent, not the PUBLISH.
        await waitFor(
          resumed,
          () => resumed.received.some((p) => p.type === PacketType.Pubrel && p.packetId === third.packetId),
          'PUBREL',
        );
        assert.equal(
          publishesOf(resumed).filter((p) => p.topicName === 'f/3').length,
          0,
          'a released message is not resent',
        );

        resumed.send({ type: PacketType.Puback, packetId: first.packetId, reasonCode: 0, properties: undefined });
        resumed.send({ type: PacketType.Pubrec, packetId: second.packetId, reasonCode: 0, properties: undefined });
        await waitFor(
          resumed,
          () => resumed.received.some((p) => p.type === PacketType.Pubrel && p.packetId === second.packetId),
          'PUBREL for f/2',
        );
        resumed.send({ type: PacketType.Pubcomp, packetId: second.packetId, reasonCode: 0, properties: undefined });
        resumed.send({ type: PacketType.Pubcomp, packetId: third.packetId, reasonCode: 0, properties: undefined });
        await roundTrip(resumed);

        // Completed deliveries are gone for good: nothing is resent after another restart.
        await server.stop();
        server = await lifecycle.start(dataDir);
        const { client: third3, connack: connack3 } = await connectPersistent(server.port, version, subscriberId);
        assert.equal(connack3.sessionPresent, true);
        await roundTrip(third3);
        assert.deepEqual(
          third3.received.filter((p) => p.type === PacketType.Publish || p.type === PacketType.Pubrel),
          [],
          'nothing left to resend',
        );
        await third3.destroy();
        await server.stop();
      });

      test(`${v}: an incoming QoS 2 message received before the restart is released after it and delivered once`, async () => {
        const dataDir = newDataDir();
        let server = await lifecycle.start(dataDir);
        const subscriberId = uniqueId('qos2-sub');
        const publisherId = uniqueId('qos2-pub');
        const { client: subscriber } = await connectPersistent(server.port, version, subscriberId);
        await subscriber.subscribe('i/#', 2);
        await subscriber.close();

        const { client: publisher } = await connectPersistent(server.port, version, publisherId);
        const packetId = publisher.publish('i/x', 'exactly-once', { qos: 2 });
        await nextAck(publisher, PacketType.Pubrec, packetId);
        // No PUBREL yet: the server holds packet id `packetId` as received and not released ([MQTT-4.3.3-9]).

        await server.stop();
        server = await lifecycle.start(dataDir);

        const { client: resumed, connack } = await connectPersistent(server.port, version, publisherId);
        assert.equal(connack.sessionPresent, true);
        // [MQTT-4.3.3-10] the resent PUBLISH (DUP) is acknowledged again without being routed again.
        resumed.send({
          type: PacketType.Publish,
          topicName: 'i/x',
          payload: Buffer.from('exactly-once'),
          qos: 2,
          isRetained: false,
          isDuplicate: true,
          packetId,
          properties: undefined,
        });
        await nextAck(resumed, PacketType.Pubrec, packetId);
        resumed.send({ type: PacketType.Pubrel, packetId, reasonCode: 0, properties: undefined });
        const pubcomp = await nextAck(resumed, PacketType.Pubcomp, packetId);
        // v5: 0x00, not 0x92 Packet Identifier not found: the id was known after the restart.
        assert.equal(pubcomp.reasonCode, 0);
        await publishAcknowledged(resumed, 'i/end', 'marker', 1);

        const { client: subscriberBack } = await connectPersistent(server.port, version, subscriberId);
        const received: PublishPacket[] = [];
        autoAcknowledge(subscriberBack, (p) => received.push(p));
        await waitFor(subscriberBack, () => received.some((p) => p.topicName === 'i/end'), 'the marker');
        assert.deepEqual(payloads(received), ['exactly-once', 'marker']);
        assert.equal(received[0]?.qos, 2);
        await resumed.destroy();
        await subscriberBack.destroy();
        await server.stop();
      });

      test(`${v}: acknowledged retained messages and retained deletions survive`, async () => {
        const dataDir = newDataDir();
        let server = await lifecycle.start(dataDir);
        const publisher = await connectClean(server.port, version);
        const properties: Properties | undefined =
          version === 5
            ? { contentType: 'text/plain', userProperties: [['k', 'v']], payloadFormatIndicator: 1 }
            : undefined;
        await publishAcknowledged(
          publisher,
          'r/1',
          'one',
          1,
          properties === undefined ? { isRetained: true } : { isRetained: true, properties },
        );
        await publishAcknowledged(publisher, 'r/2', 'two', 2, { isRetained: true });
        await publishAcknowledged(publisher, 'r/3', 'three', 1, { isRetained: true });
        await publishAcknowledged(publisher, 'r/3', '', 1, { isRetained: true }); // [MQTT-3.3.1-6] empty payload deletes
        await publishAcknowledged(publisher, 'r/2', 'two-replaced', 1, { isRetained: true });
        await publisher.destroy();

        await server.stop();
        server = await lifecycle.start(dataDir);

        const subscriber = await connectClean(server.port, version);
        await subscriber.subscribe('r/#', 2);
        await roundTrip(subscriber);
        const retained = publishesOf(subscriber).sort((a, b) => a.topicName.localeCompare(b.topicName));
        assert.deepEqual(
          retained.map((p) => [p.topicName, p.payload.toString(), p.isRetained, p.qos]),
          [
            ['r/1', 'one', true, 1],
            ['r/2', 'two-replaced', true, 1],
          ],
        );
        if (version === 5) {
          const props = retained[0]?.properties;
          assert.equal(props?.contentType, 'text/plain');
          assert.deepEqual(props?.userProperties, [['k', 'v']]);
          assert.equal(props?.payloadFormatIndicator, 1);
        }
        await subscriber.destroy();
        await server.stop();
      });
    }
  });
}

/**
 * Streams `count` QoS 1 PUBLISH packets (`build(i)` gives topic, payload, retain), keeping `window` unacknowledged,
 * and calls `onHalf` when half have been acknowledged. Resolves with the indexes acknowledged before the connection
 * closed.
 */
function stream(
  publisher: WireClient,
  count: number,
  window: number,
  build: (i: number) => { topicName: string; payload: string; isRetained: boolean },
  onHalf: () => void,
): Promise<Set<number>> {
  const acknowledged = new Set<number>();
  const indexByPacketId = new Map<number, number>();
  let next = 0;
  let scanned = 0;
  let isHalfSignalled = false;
  const fill = (): void => {
    while (next < count && indexByPacketId.size < window) {
      const { topicName, payload, isRetained } = build(next);
      const packetId = (next % 65_535) + 1;
      publisher.send({
        type: PacketType.Publish,
        topicName,
        payload: Buffer.from(payload),
        qos: 1,
        isRetained,
        isDuplicate: false,
        packetId,
        properties: undefined,
      });
      indexByPacketId.set(packetId, next++);
    }
  };
  return new Promise((resolve) => {
    publisher.socket.on('data', () => {
      for (; scanned < publisher.received.length; scanned++) {
        const packet = publisher.received[scanned]!;
        if (packet.type !== PacketType.Puback) continue;
        const index = indexByPacketId.get(packet.packetId);
        assert.ok(index !== undefined, `PUBACK for unknown packet id ${packet.packetId}`);
        assert.equal(packet.reasonCode, 0);
        indexByPacketId.delete(packet.packetId);
        acknowledged.add(index);
      }
      if (!isHalfSignalled && acknowledged.size >= count / 2) {
        isHalfSignalled = true;
        onHalf();
      }
      fill();
    });
    void publisher.closed(120_000).then(() => resolve(acknowledged));
    fill();
  });
}

describe('acknowledged means durable: kill -9 in the middle of a QoS 1 stream', () => {
  for (const version of VERSIONS) {
    const v = `MQTT ${version === 5 ? '5' : '3.1.1'}`;

    test(`${v}: every message acknowledged to the publisher reaches each offline persistent session`, async () => {
      const count = 3000;
      const dataDir = newDataDir();
      let server = await killed.start(dataDir);
      // One session of each protocol version, subscribed at QoS 1 and QoS 2, both offline during the stream.
      const sessions = [
        { clientId: uniqueId('stream-v4'), version: 4 as const, qos: 1 as QoS },
        { clientId: uniqueId('stream-v5'), version: 5 as const, qos: 2 as QoS },
      ];
      for (const session of sessions) {
        const { client } = await connectPersistent(server.port, session.version, session.clientId);
        await client.subscribe('k/#', session.qos);
        await client.close();
      }

      const publisher = await connectClean(server.port, version);
      const payloadOf = (i: number): string => `stream-${i}-${'x'.repeat(i % 50)}`;
      const acknowledged = await stream(
        publisher,
        count,
        100,
        (i) => ({ topicName: `k/${i % 7}`, payload: payloadOf(i), isRetained: false }),
        () => void server.stop(),
      );
      assert.ok(
        acknowledged.size >= count / 2 && acknowledged.size < count,
        `killed mid-stream (${acknowledged.size} acknowledged)`,
      );

      server = await killed.start(dataDir);
      const marker = await connectClean(server.port, version);
      for (const session of sessions) {
        const { client, connack } = await connectPersistent(server.port, session.version, session.clientId);
        assert.equal(connack.sessionPresent, true);
        const received: string[] = [];
        autoAcknowledge(client, (p) => received.push(p.payload.toString()));
        await publishAcknowledged(marker, 'k/end', `end-${session.clientId}`, 1);
        await waitFor(client, () => received.includes(`end-${session.clientId}`), `the marker for ${session.clientId}`);
        const receivedSet = new Set(received);
        const missing = [...acknowledged].filter((i) => !receivedSet.has(payloadOf(i)));
        assert.deepEqual(missing, [], `${session.clientId}: acknowledged messages lost`);
        // Whatever arrives is a message that was sent, intact.
        const sentPayloads = new Set(Array.from({ length: count }, (_, i) => payloadOf(i)));
        for (const payload of received) assert.ok(sentPayloads.has(payload) || payload.startsWith('end-'), payload);
        await client.destroy();
      }
      await marker.destroy();
      await server.stop();
    });

    test(`${v}: every retained message acknowledged to the publisher survives`, async () => {
      const count = 1500;
      const dataDir = newDataDir();
      let server = await killed.start(dataDir);
      const publisher = await connectClean(server.port, version);
      const acknowledged = await stream(
        publisher,
        count,
        100,
        (i) => ({ topicName: `kr/${i}`, payload: `retained-${i}`, isRetained: true }),
        () => void server.stop(),
      );
      assert.ok(
        acknowledged.size >= count / 2 && acknowledged.size < count,
        `killed mid-stream (${acknowledged.size} acknowledged)`,
      );

      server = await killed.start(dataDir);
      const subscriber = await connectClean(server.port, version);
      const received = new Map<string, string>();
      autoAcknowledge(subscriber, (p) => received.set(p.topicName, p.payload.toString()));
      await subscriber.subscribe('kr/#', 1);
      // Retained messages beyond the in-flight window are queued; a later message arrives after all of them.
      const marker = await connectClean(server.port, version);
      await publishAcknowledged(marker, 'kr/end', 'end', 1);
      await waitFor(subscriber, () => received.has('kr/end'), 'the marker');
      await marker.destroy();
      const missing = [...acknowledged].filter((i) => received.get(`kr/${i}`) !== `retained-${i}`);
      assert.deepEqual(missing, [], 'acknowledged retained messages lost');
      await subscriber.destroy();
      await server.stop();
    });
  }
});

describe('a persistent session is durable before CONNACK', () => {
  for (const version of VERSIONS) {
    const v = `MQTT ${version === 5 ? '5' : '3.1.1'}`;
    test(`${v}: packets sent right behind CONNECT are answered only after the CONNACK`, async () => {
      const server = await startTestServer();
      try {
        const client = await WireClient.open(server.mqttPort, version);
        const connect = encodePacket(
          {
            type: PacketType.Connect,
            protocolName: 'MQTT',
            protocolVersion: version,
            cleanStart: false,
            keepAliveSeconds: 0,
            clientId: uniqueId('connack-first'),
            username: undefined,
            password: undefined,
            will: undefined,
            properties: version === 5 ? { sessionExpiryInterval: 60 } : undefined,
          },
          version,
        );
        const pingreq = encodePacket({ type: PacketType.Pingreq }, version);
        // One write: the CONNACK waits for the session's commit, and the PINGREQ must wait behind it.
        client.sendBytes(Buffer.concat([connect, pingreq]));
        await client.next(PacketType.Pingresp);
        // [MQTT-3.2.0-1] the first packet the server sends is CONNACK.
        assert.deepEqual(
          client.received.map((p) => p.type),
          [PacketType.Connack, PacketType.Pingresp],
        );
        await client.destroy();
      } finally {
        await server.close();
      }
    });
  }
});
