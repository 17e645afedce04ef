/**
 * Sessions end to end: clean session / clean start 0 keeps subscriptions and queues QoS 1/2 messages while the
 * client is away, delivered in order on reconnect with Session Present; v5 Session Expiry Interval and the 3.1.1
 * session expiry (`mqtt.sessionExpirySeconds`); QoS 0 is not queued for offline clients.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { IClientOptions } from 'mqtt';
import { PacketType } from '../../src/mqtt/codec/index.js';
import {
  connectClient,
  PROTOCOL_VERSIONS,
  Resources,
  runMosquitto,
  sleep,
  startTestServer,
  WAIT_MS,
  waitFor,
  withTimeout,
  WireClient,
  type TestServer,
  type TestProtocolVersion,
} from '../helpers/index.js';

const VERSION_NAME = { 4: 'MQTT 3.1.1', 5: 'MQTT 5' } as const;

/** MQTT.js options for a session that outlives its connection (v5: expiry 300 s). */
function persistentOptions(version: TestProtocolVersion, clientId: string): IClientOptions {
  return version === 5
    ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
    : { protocolVersion: 4, clientId, clean: false };
}

describe('persistent sessions', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];

    test(`${name}: a first connection with clean start 0 has Session Present 0`, async () => {
      const client = resources.add(
        await connectClient(server.mqttUrl, persistentOptions(version, `fresh-${String(version)}`)),
      );
      // [MQTT-3.2.2-3] no stored session: Session Present 0.
      assert.equal(client.connack.sessionPresent, false);
    });

    test(`${name}: QoS 1 and 2 messages sent while away are delivered in order on reconnect, QoS 0 is not`, async () => {
      const clientId = `away-${String(version)}`;
      const topic = `sessions/away/${String(version)}`;
      const first = await connectClient(server.mqttUrl, persistentOptions(version, clientId));
      await first.client.subscribeAsync(topic, { qos: 2 });
      await first.client.endAsync();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      const expected: string[] = [];
      for (let i = 0; i < 30; i++) {
        const qos = ([0, 1, 2] as const)[i % 3]!;
        // The QoS 0 ones are followed by acknowledged ones on the same connection, so they were routed too.
        await publisher.client.publishAsync(topic, `m${String(i)} q${String(qos)}`, { qos });
        if (qos > 0) expected.push(`m${String(i)} q${String(qos)}`);
      }
      const second = resources.add(await connectClient(server.mqttUrl, persistentOptions(version, clientId)));
      // [MQTT-3.2.2-2] the session was resumed: Session Present 1.
      assert.equal(second.connack.sessionPresent, true);
      // [MQTT-3.1.2-5] (3.1.1) QoS 1/2 messages queued while disconnected are part of the session.
      // [MQTT-4.6.0-6] delivered in the order published per QoS (MQTT.js emits a QoS 2 message only after PUBREL,
      // so across QoS levels its order is its own; the wire order is checked with a raw client below).
      const messages = await second.waitForMessages(expected.length);
      for (const qos of [1, 2]) {
        assert.deepEqual(
          messages.filter((m) => m.packet.qos === qos).map((m) => m.payload),
          expected.filter((p) => p.endsWith(`q${String(qos)}`)),
        );
      }
      // QoS 0 is not queued for an offline client; a marker proves nothing else is pending.
      await publisher.client.publishAsync(topic, 'marker', { qos: 1 });
      await second.waitForMessages(expected.length + 1);
      assert.equal(second.messages.at(-1)?.payload, 'marker');
      assert.equal(second.messages.length, expected.length + 1);
    });

    test(`${name}: queued QoS 1 and 2 messages go out on the wire in publish order`, async () => {
      const clientId = `wire-order-${String(version)}`;
      const topic = `sessions/wire-order/${String(version)}`;
      const connectOptions = {
        clientId,
        cleanStart: false,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
      };
      const first = await WireClient.connect(server.mqttPort, version, connectOptions);
      await first.client.subscribe(topic, 2);
      await first.client.close();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      const payloads = Array.from({ length: 10 }, (_v, i) => `o${String(i)}`);
      for (const [i, payload] of payloads.entries()) {
        await publisher.client.publishAsync(topic, payload, { qos: i % 2 === 0 ? 1 : 2 });
      }
      const second = await WireClient.connect(server.mqttPort, version, connectOptions);
      resources.add(second.client);
      assert.equal(second.connack.sessionPresent, true);
      const publishes = await second.client.nextPublishes(10);
      // [MQTT-4.6.0-6] in the order they were received, each at the QoS it was published with.
      assert.deepEqual(
        publishes.map((p) => [p.payload.toString(), p.qos]),
        payloads.map((payload, i) => [payload, i % 2 === 0 ? 1 : 2]),
      );
    });

    test(`${name}: subscriptions survive a reconnect without subscribing again`, async () => {
      const clientId = `keeps-subs-${String(version)}`;
      const first = await connectClient(server.mqttUrl, persistentOptions(version, clientId));
      await first.client.subscribeAsync(['sessions/keep/a', 'sessions/keep/+/b'], { qos: 1 });
      await first.client.endAsync();
      const second = resources.add(await connectClient(server.mqttUrl, persistentOptions(version, clientId)));
      assert.equal(second.connack.sessionPresent, true);
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync('sessions/keep/a', 'a', { qos: 1 });
      await publisher.client.publishAsync('sessions/keep/x/b', 'b', { qos: 1 });
      const messages = await second.waitForMessages(2);
      assert.deepEqual(
        messages.map((m) => m.topic),
        ['sessions/keep/a', 'sessions/keep/x/b'],
      );
    });

    test(`${name}: more queued messages than the in-flight window all arrive in order`, async () => {
      const clientId = `many-${String(version)}`;
      const topic = `sessions/many/${String(version)}`;
      const first = await connectClient(server.mqttUrl, persistentOptions(version, clientId));
      await first.client.subscribeAsync(topic, { qos: 1 });
      await first.client.endAsync();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      const payloads = Array.from({ length: 200 }, (_v, i) => `n${String(i)}`);
      // 50 at a time: MQTT.js does not hold back for the server's Receive Maximum (128 here) on its own.
      for (let i = 0; i < payloads.length; i += 50) {
        const batch = payloads.slice(i, i + 50);
        await withTimeout(
          Promise.all(batch.map((payload) => publisher.client.publishAsync(topic, payload, { qos: 1 }))),
          WAIT_MS,
          'PUBACKs',
        );
      }
      const second = resources.add(await connectClient(server.mqttUrl, persistentOptions(version, clientId)));
      const messages = await second.waitForMessages(200);
      assert.deepEqual(
        messages.map((m) => m.payload),
        payloads,
      );
    });

    test(`${name}: clean start 1 discards the stored session and its subscriptions`, async () => {
      const clientId = `discard-${String(version)}`;
      const topic = `sessions/discard/${String(version)}`;
      const first = await connectClient(server.mqttUrl, persistentOptions(version, clientId));
      await first.client.subscribeAsync(topic, { qos: 1 });
      await first.client.endAsync();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(topic, 'queued', { qos: 1 });
      const { client, connack } = await WireClient.connect(server.mqttPort, version, { clientId, cleanStart: true });
      resources.add(client);
      // [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (5) clean start discards the session; Session Present 0 [MQTT-3.2.2-1].
      assert.equal(connack.sessionPresent, false);
      await publisher.client.publishAsync(topic, 'after', { qos: 1 });
      await client.sync();
      assert.equal(client.unread(PacketType.Publish).length, 0);
    });

    test(`${name}: a clean session ends with its connection`, async () => {
      const clientId = `ends-${String(version)}`;
      const first = await WireClient.connect(server.mqttPort, version, { clientId, cleanStart: true });
      await first.client.subscribe('sessions/ends', 1);
      await first.client.close();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync('sessions/ends', 'lost', { qos: 1 });
      const second = await WireClient.connect(server.mqttPort, version, {
        clientId,
        cleanStart: false,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
      });
      resources.add(second.client);
      assert.equal(second.connack.sessionPresent, false);
      await second.client.sync();
      assert.equal(second.client.unread(PacketType.Publish).length, 0);
    });

    test(`${name}: QoS 0 messages are not queued for an offline client`, async () => {
      const clientId = `qos0-offline-${String(version)}`;
      const topic = `sessions/qos0/${String(version)}`;
      const first = await connectClient(server.mqttUrl, persistentOptions(version, clientId));
      await first.client.subscribeAsync(topic, { qos: 0 });
      await first.client.endAsync();
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(topic, 'while away', { qos: 1 }); // downgraded to QoS 0
      await publisher.client.publishAsync(topic, 'also away', { qos: 0 });
      await publisher.client.publishAsync(topic, 'barrier', { qos: 1 });
      const { client, connack } = await WireClient.connect(server.mqttPort, version, {
        clientId,
        cleanStart: false,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
      });
      resources.add(client);
      assert.equal(connack.sessionPresent, true);
      await client.sync();
      assert.equal(client.unread(PacketType.Publish).length, 0);
      // The subscription is still there.
      await publisher.client.publishAsync(topic, 'live', { qos: 0 });
      const live = await client.next(PacketType.Publish);
      assert.equal(live.payload.toString(), 'live');
    });
  }

  test('mosquitto_sub: a persistent session (-c) receives the QoS 1 messages sent while it was away', async () => {
    const clientId = 'mosquitto-persistent';
    const args = ['-V', 'mqttv311', '-c', '-i', clientId, '-q', '1', '-t', 'mosq/session'];
    const subscriptionsBefore = server.broker.stats.subscriptions;
    const first = runMosquitto('mosquitto_sub', server.mqttPort, args);
    await waitFor(() => server.broker.stats.subscriptions > subscriptionsBefore, 'mosquitto_sub to subscribe');
    await first.close(); // killed: network loss, the session stays
    const publisher = resources.add(await connectClient(server.mqttUrl));
    await publisher.client.publishAsync('mosq/session', 'away 1', { qos: 1 });
    await publisher.client.publishAsync('mosq/session', 'away 2', { qos: 1 });
    const again = await runMosquitto('mosquitto_sub', server.mqttPort, [...args, '-C', '2']).result;
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stdout.trim().split('\n'), ['away 1', 'away 2']);
  });
});

describe('session expiry', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  test('MQTT 5: a session with Session Expiry Interval 1 s is gone after 2 s, with nothing queued', async () => {
    const server = resources.add(await startTestServer());
    const options = { clientId: 'expires-5', cleanStart: false, properties: { sessionExpiryInterval: 1 } } as const;
    const first = await WireClient.connect(server.mqttPort, 5, options);
    await first.client.subscribe('expiry/5', 1);
    await first.client.close();
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await publisher.client.publishAsync('expiry/5', 'queued', { qos: 1 });
    // Time is the behaviour: wait past the 1 s expiry.
    await sleep(2_000);
    const second = await WireClient.connect(server.mqttPort, 5, options);
    resources.add(second.client);
    // [MQTT-3.1.2-23] the session is discarded when the interval has passed: Session Present 0, nothing queued.
    assert.equal(second.connack.sessionPresent, false);
    await second.client.sync();
    assert.equal(second.client.unread(PacketType.Publish).length, 0);
  });

  test('MQTT 5: a session with Session Expiry Interval 2 s is still there after a quick reconnect', async () => {
    const server = resources.add(await startTestServer());
    const options = { clientId: 'kept-5', cleanStart: false, properties: { sessionExpiryInterval: 2 } } as const;
    const first = await WireClient.connect(server.mqttPort, 5, options);
    await first.client.subscribe('expiry/kept', 1);
    await first.client.close();
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await publisher.client.publishAsync('expiry/kept', 'queued', { qos: 1 });
    const second = await WireClient.connect(server.mqttPort, 5, options);
    resources.add(second.client);
    assert.equal(second.connack.sessionPresent, true);
    assert.equal((await second.client.next(PacketType.Publish)).payload.toString(), 'queued');
  });

  test('MQTT 5: with Session Expiry Interval 0 (absent) the session ends with the connection', async () => {
    const server = resources.add(await startTestServer());
    const first = await WireClient.connect(server.mqttPort, 5, { clientId: 'no-expiry-5', cleanStart: false });
    await first.client.subscribe('expiry/none', 1);
    await first.client.close();
    const second = await WireClient.connect(server.mqttPort, 5, { clientId: 'no-expiry-5', cleanStart: false });
    resources.add(second.client);
    // [MQTT-3.1.2-23] absent = 0: the session ends when the network connection closes.
    assert.equal(second.connack.sessionPresent, false);
  });

  test('MQTT 5: a Session Expiry Interval set on DISCONNECT replaces the one from CONNECT', async () => {
    const server = resources.add(await startTestServer());
    const options = {
      clientId: 'disconnect-expiry',
      cleanStart: false,
      properties: { sessionExpiryInterval: 300 },
    } as const;
    const first = await WireClient.connect(server.mqttPort, 5, options);
    await first.client.subscribe('expiry/disconnect', 1);
    first.client.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await first.client.closed();
    const second = await WireClient.connect(server.mqttPort, 5, options);
    resources.add(second.client);
    // [MQTT-3.14.2-2] the DISCONNECT's interval applies: 0 ends the session now.
    assert.equal(second.connack.sessionPresent, false);
  });

  test('MQTT 3.1.1: a clean session 0 session is kept until mqtt.sessionExpirySeconds (1 s), then gone', async () => {
    const server = resources.add(await startTestServer({ mqtt: { sessionExpirySeconds: 1 } }));
    const options = { clientId: 'expires-4', cleanStart: false } as const;
    const first = await WireClient.connect(server.mqttPort, 4, options);
    await first.client.subscribe('expiry/4', 1);
    await first.client.close();
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 4 }));
    await publisher.client.publishAsync('expiry/4', 'kept', { qos: 1 });
    const quick = await WireClient.connect(server.mqttPort, 4, options);
    assert.equal(quick.connack.sessionPresent, true);
    assert.equal((await quick.client.next(PacketType.Publish)).payload.toString(), 'kept');
    await quick.client.close(); // unacknowledged: stays in the session
    await publisher.client.publishAsync('expiry/4', 'queued', { qos: 1 });
    await sleep(2_000);
    const late = await WireClient.connect(server.mqttPort, 4, options);
    resources.add(late.client);
    assert.equal(late.connack.sessionPresent, false);
    await late.client.sync();
    assert.equal(late.client.unread(PacketType.Publish).length, 0);
  });
});
