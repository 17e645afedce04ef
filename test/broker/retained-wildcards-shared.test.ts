/**
 * Retained messages (delete by empty payload, retain flag on subscribe, v5 Retain Handling / Retain As Published /
 * No Local), wildcards `+` and `#` and `$` topics, and shared subscriptions — for MQTT 3.1.1 and 5.0, plus
 * mosquitto_pub / mosquitto_sub as an independent client.
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
  startTestServer,
  waitFor,
  WireClient,
  type TestClient,
  type TestServer,
  type TestProtocolVersion,
} from '../helpers/index.js';

const VERSION_NAME = { 4: 'MQTT 3.1.1', 5: 'MQTT 5' } as const;

describe('retained messages', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];
    const prefix = `retained/${String(version)}`;

    test(`${name}: a new subscriber gets the retained message with the retain flag set`, async () => {
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(`${prefix}/new`, 'first', { qos: 1, retain: true });
      await publisher.client.publishAsync(`${prefix}/new`, 'latest', { qos: 1, retain: true });
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync(`${prefix}/new`, { qos: 1 });
      const [message] = await subscriber.waitForMessages(1);
      // [MQTT-3.3.1-5] only the last retained message per topic is kept; [MQTT-3.3.1-6] (3.1.1) / [MQTT-3.3.1-9]
      // (5) sent to a new subscription with RETAIN 1.
      assert.equal(message?.payload, 'latest');
      assert.equal(message?.packet.retain, true);
      assert.equal(message?.packet.qos, 1);
    });

    test(`${name}: a live subscriber gets a retained message with the retain flag cleared`, async () => {
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync(`${prefix}/live`, { qos: 1 });
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(`${prefix}/live`, 'now', { qos: 1, retain: true });
      const [message] = await subscriber.waitForMessages(1);
      // [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (5, Retain As Published 0): RETAIN 0 on normal delivery.
      assert.equal(message?.packet.retain, false);
    });

    test(`${name}: a retained message with an empty payload deletes the retained message`, async () => {
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(`${prefix}/deleted`, 'soon gone', { qos: 1, retain: true });
      await publisher.client.publishAsync(`${prefix}/deleted`, '', { qos: 1, retain: true });
      const { client } = await WireClient.connect(server.mqttPort, version, { clientId: `deleted-${String(version)}` });
      resources.add(client);
      await client.subscribe(`${prefix}/deleted`, 1);
      await client.sync();
      // [MQTT-3.3.1-10] (3.1.1) / [MQTT-3.3.1-6] (5) a zero-byte retained message removes the retained message.
      assert.equal(client.unread(PacketType.Publish).length, 0);
    });

    test(`${name}: a retained message is delivered at the lower of its QoS and the subscription's`, async () => {
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync(`${prefix}/qos`, 'q2', { qos: 2, retain: true });
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync(`${prefix}/qos`, { qos: 1 });
      const [message] = await subscriber.waitForMessages(1);
      assert.equal(message?.packet.qos, 1);
    });

    test(`${name}: a wildcard subscription gets every matching retained message`, async () => {
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      for (const leaf of ['a', 'b', 'c/d']) {
        await publisher.client.publishAsync(`${prefix}/many/${leaf}`, leaf, { qos: 1, retain: true });
      }
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync(`${prefix}/many/#`, { qos: 1 });
      const messages = await subscriber.waitForMessages(3);
      assert.deepEqual(messages.map((m) => m.payload).sort(), ['a', 'b', 'c/d']);
      assert.ok(messages.every((m) => m.packet.retain));
    });
  }

  for (const handling of [0, 1, 2] as const) {
    const expected = { 0: [1, 1], 1: [1, 0], 2: [0, 0] }[handling];
    test(`MQTT 5: Retain Handling ${String(handling)} sends the retained message ${String(expected[0])} then ${String(expected[1])} times on subscribing twice`, async () => {
      const topic = `retained/handling/${String(handling)}`;
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
      await publisher.client.publishAsync(topic, 'kept', { qos: 1, retain: true });
      const { client } = await WireClient.connect(server.mqttPort, 5, { clientId: `handling-${String(handling)}` });
      resources.add(client);
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        await client.subscribe([{ topicFilter: topic, qos: 0, retainHandling: handling }]);
        await client.sync();
        counts.push(client.unread(PacketType.Publish).length);
        for (let k = 0; k < counts.at(-1)!; k++) await client.next(PacketType.Publish);
      }
      // [MQTT-3.3.1-9] 0: at every subscribe; [MQTT-3.3.1-10] 1: only if the subscription did not exist;
      // [MQTT-3.3.1-11] 2: never.
      assert.deepEqual(counts, expected);
    });
  }

  for (const isRetainAsPublished of [true, false]) {
    test(`MQTT 5: Retain As Published ${isRetainAsPublished ? '1 keeps' : '0 clears'} the retain flag on live delivery`, async () => {
      const topic = `retained/rap/${String(isRetainAsPublished)}`;
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
      await subscriber.client.subscribeAsync(topic, { qos: 1, rap: isRetainAsPublished });
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
      await publisher.client.publishAsync(topic, 'retained', { qos: 1, retain: true });
      await publisher.client.publishAsync(topic, 'plain', { qos: 1, retain: false });
      const messages = await subscriber.waitForMessages(2);
      // [MQTT-3.3.1-12] 0: RETAIN cleared; [MQTT-3.3.1-13] 1: RETAIN as published.
      assert.deepEqual(
        messages.map((m) => [m.payload, m.packet.retain]),
        [
          ['retained', isRetainAsPublished],
          ['plain', false],
        ],
      );
    });
  }

  test('MQTT 5: No Local keeps a client’s own messages from coming back to it', async () => {
    const client = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5, clientId: 'no-local' }));
    await client.client.subscribeAsync('nolocal/t', { qos: 1, nl: true });
    await client.client.subscribeAsync('nolocal/barrier', { qos: 1 });
    await client.client.publishAsync('nolocal/t', 'own', { qos: 1 });
    await client.client.publishAsync('nolocal/barrier', 'own barrier', { qos: 1 });
    const other = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await other.client.publishAsync('nolocal/t', 'other', { qos: 1 });
    await client.waitForMessages(2);
    // [MQTT-3.8.3-3] No Local 1: not forwarded to the connection that published it.
    assert.deepEqual(
      client.messages.map((m) => m.payload),
      ['own barrier', 'other'],
    );
  });

  test('MQTT 3.1.1: a client gets its own messages back (no No Local)', async () => {
    const client = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 4 }));
    await client.client.subscribeAsync('nolocal/v4', { qos: 1 });
    await client.client.publishAsync('nolocal/v4', 'echo', { qos: 1 });
    const [message] = await client.waitForMessages(1);
    assert.equal(message?.payload, 'echo');
  });

  test('mosquitto_sub -V mqttv5 receives a mosquitto_pub -q 2 -r retained message with its retain flag', async () => {
    const published = await runMosquitto('mosquitto_pub', server.mqttPort, [
      '-V',
      'mqttv5',
      '-q',
      '2',
      '-r',
      '-t',
      'mosq/retained',
      '-m',
      'kept by switchboard',
    ]).result;
    assert.equal(published.code, 0, published.stderr);
    const received = await runMosquitto('mosquitto_sub', server.mqttPort, [
      '-V',
      'mqttv5',
      '-q',
      '2',
      '-C',
      '1',
      '-t',
      'mosq/retained',
      '-F',
      '%r %q %p',
    ]).result;
    assert.equal(received.code, 0, received.stderr);
    assert.equal(received.stdout.trim(), '1 2 kept by switchboard');
  });

  test('mosquitto_pub -r with an empty message deletes what MQTT.js retained', async () => {
    const publisher = resources.add(await connectClient(server.mqttUrl));
    await publisher.client.publishAsync('mosq/cleared', 'x', { qos: 1, retain: true });
    const cleared = await runMosquitto('mosquitto_pub', server.mqttPort, [
      '-V',
      'mqttv311',
      '-q',
      '1',
      '-r',
      '-n',
      '-t',
      'mosq/cleared',
    ]).result;
    assert.equal(cleared.code, 0, cleared.stderr);
    const { client } = await WireClient.connect(server.mqttPort, 4, { clientId: 'mosq-cleared' });
    resources.add(client);
    await client.subscribe('mosq/cleared', 1);
    await client.sync();
    assert.equal(client.unread(PacketType.Publish).length, 0);
  });
});

describe('wildcards', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  /** Subscribes to `filter`, publishes every topic, then a marker; returns the topics the filter received. */
  async function matched(version: TestProtocolVersion, filter: string, topics: readonly string[]): Promise<string[]> {
    const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
    await subscriber.client.subscribeAsync([filter, 'wild-marker'], { qos: 1 });
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
    for (const topic of topics) await publisher.client.publishAsync(topic, topic, { qos: 1 });
    await publisher.client.publishAsync('wild-marker', 'end', { qos: 1 });
    await subscriber.waitForMessages(1, (m) => m.topic === 'wild-marker');
    return subscriber.messages.filter((m) => m.topic !== 'wild-marker').map((m) => m.topic);
  }

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];

    test(`${name}: + matches exactly one level, including an empty one`, async () => {
      const topics = [
        'sport/tennis/player1',
        'sport//player1',
        'sport/tennis/x/player1',
        'sport/player1',
        'sport/tennis/player2',
      ];
      // [MQTT-4.7.1-3] the single-level wildcard matches one whole level.
      assert.deepEqual(await matched(version, 'sport/+/player1', topics), ['sport/tennis/player1', 'sport//player1']);
    });

    test(`${name}: # matches the parent level and every level below`, async () => {
      const topics = ['sport', 'sport/tennis', 'sport/tennis/player1', 'sports', 'other/sport'];
      // [MQTT-4.7.1-2] "sport/#" also matches "sport".
      assert.deepEqual(await matched(version, 'sport/#', topics), ['sport', 'sport/tennis', 'sport/tennis/player1']);
    });

    test(`${name}: filters starting with a wildcard do not match $ topics`, async () => {
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync(['#', '+/monitor/#', '+'], { qos: 0 });
      const sysSubscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await sysSubscriber.client.subscribeAsync(['$SYS/test/#', '$app/monitor/#'], { qos: 0 });
      // The broker's own $SYS tree (clients may not publish there) and a client's $ topic.
      server.broker.publish({
        topicName: '$SYS/test/monitor',
        payload: Buffer.from('sys'),
        qos: 0,
        isRetained: false,
        properties: undefined,
      });
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync('$app/monitor/x', 'app', { qos: 1 });
      await publisher.client.publishAsync('plain/monitor/x', 'plain', { qos: 1 });
      await subscriber.waitForMessages(1, (m) => m.topic === 'plain/monitor/x');
      await sysSubscriber.waitForMessages(2);
      // [MQTT-4.7.2-1] a filter starting with a wildcard must not match a topic name beginning with $.
      assert.ok(
        subscriber.messages.every((m) => !m.topic.startsWith('$')),
        subscriber.messages.map((m) => m.topic).join(),
      );
      assert.deepEqual(sysSubscriber.messages.map((m) => m.topic).sort(), ['$SYS/test/monitor', '$app/monitor/x']);
    });

    test(`${name}: a message matching several subscriptions of one client is delivered once`, async () => {
      // [MQTT-3.3.4-2] (5) overlapping subscriptions: one copy at the highest QoS.
      const subscriber = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await subscriber.client.subscribeAsync({
        'overlap/#': { qos: 0 },
        'overlap/+': { qos: 1 },
        'overlap/a': { qos: 2 },
      });
      const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: version }));
      await publisher.client.publishAsync('overlap/a', 'once', { qos: 2 });
      await publisher.client.publishAsync('overlap/b', 'marker', { qos: 2 });
      await subscriber.waitForMessages(1, (m) => m.payload === 'marker');
      const copies = subscriber.messages.filter((m) => m.payload === 'once');
      assert.equal(copies.length, 1);
      assert.equal(copies[0]?.packet.qos, 2);
    });
  }

  test('mosquitto_sub receives what MQTT.js publishes through a wildcard', async () => {
    const subscriptionsBefore = server.broker.stats.subscriptions;
    const subscriber = runMosquitto('mosquitto_sub', server.mqttPort, [
      '-V',
      'mqttv311',
      '-q',
      '1',
      '-t',
      'mosq/+/temp',
      '-C',
      '2',
      '-v',
    ]);
    resources.add({ close: () => subscriber.close() });
    await waitFor(() => server.broker.stats.subscriptions > subscriptionsBefore, 'mosquitto_sub to subscribe');
    const publisher = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await publisher.client.publishAsync('mosq/kitchen/temp', '21', { qos: 1 });
    await publisher.client.publishAsync('mosq/kitchen/humidity', '40', { qos: 1 });
    await publisher.client.publishAsync('mosq/garage/temp', '12', { qos: 1 });
    const result = await subscriber.result;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), ['mosq/kitchen/temp 21', 'mosq/garage/temp 12']);
  });
});

describe('shared subscriptions', () => {
  let server: TestServer;
  const resources = new Resources();

  before(async () => {
    server = await startTestServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    const name = VERSION_NAME[version];
    const options = (extra: IClientOptions = {}): IClientOptions => ({ protocolVersion: version, ...extra });

    for (const qos of [1, 2] as const) {
      const fate = qos === 1 ? 'goes to another member' : 'is not sent to another member ([MQTT-4.8.2-5])';
      test(`${name}: a QoS ${String(qos)} message unacknowledged by a member whose session ends ${fate}`, async () => {
        const filter = `$share/redispatch${String(qos)}/redispatch/${String(version)}/${String(qos)}`;
        const topic = `redispatch/${String(version)}/${String(qos)}`;
        // The first member to subscribe is chosen first: it receives m1 and never acknowledges it.
        const { client: silent } = await WireClient.connect(server.mqttPort, version, { clientId: `silent-${topic}` });
        resources.add(silent);
        await silent.subscribe(filter, qos);
        const other = resources.add(await connectClient(server.mqttUrl, options()));
        await other.client.subscribeAsync(filter, { qos });
        const publisher = resources.add(await connectClient(server.mqttUrl, options()));
        await publisher.client.publishAsync(topic, 'm1', { qos });
        const [unacknowledged] = await silent.nextPublishes(1);
        assert.equal(unacknowledged?.payload.toString(), 'm1');
        await publisher.client.publishAsync(topic, 'm2', { qos });
        await other.waitForMessages(1);
        const connectedBefore = server.broker.stats.clientsConnected;
        await silent.destroy(); // network loss: a clean session ends with its connection
        await waitFor(() => server.broker.stats.clientsConnected === connectedBefore - 1, 'the member to leave');
        await publisher.client.publishAsync(topic, 'm3', { qos });
        if (qos === 1) {
          // MQTT 5 §4.8.2: the Server SHOULD send it to another client subscribed to the shared subscription.
          const received = await other.waitForMessages(3);
          assert.deepEqual(received.map((m) => m.payload).sort(), ['m1', 'm2', 'm3']);
        } else {
          const received = await other.waitForMessages(2);
          assert.deepEqual(
            received.map((m) => m.payload),
            ['m2', 'm3'],
          );
        }
      });
    }

    test(`${name}: messages are shared round-robin among the group's live members, each to exactly one`, async () => {
      const topic = `shared/rr/${String(version)}`;
      const members: TestClient[] = [];
      for (let i = 0; i < 3; i++) {
        const member = resources.add(await connectClient(server.mqttUrl, options()));
        await member.client.subscribeAsync(`$share/workers/${topic}`, { qos: 1 });
        members.push(member);
      }
      const plain = resources.add(await connectClient(server.mqttUrl, options()));
      await plain.client.subscribeAsync(topic, { qos: 1 });
      const publisher = resources.add(await connectClient(server.mqttUrl, options()));
      const payloads = Array.from({ length: 12 }, (_v, i) => `s${String(i)}`);
      for (const payload of payloads) await publisher.client.publishAsync(topic, payload, { qos: 1 });
      await plain.waitForMessages(12);
      await waitFor(() => members.reduce((sum, m) => sum + m.messages.length, 0) >= 12, 'shared deliveries');
      const received = members.flatMap((m) => m.messages.map((message) => message.payload));
      // MQTT 5.0 §4.8.2: each message to exactly one member of the group; the plain subscription gets all.
      assert.deepEqual(received.sort(), [...payloads].sort());
      assert.deepEqual(
        members.map((m) => m.messages.length),
        [4, 4, 4],
      );
      assert.equal(plain.messages.length, 12);
    });

    test(`${name}: two groups on the same filter each get every message once`, async () => {
      const topic = `shared/groups/${String(version)}`;
      const groups = [];
      for (const group of ['g1', 'g2']) {
        const member = resources.add(await connectClient(server.mqttUrl, options()));
        await member.client.subscribeAsync(`$share/${group}/${topic}`, { qos: 1 });
        groups.push(member);
      }
      const publisher = resources.add(await connectClient(server.mqttUrl, options()));
      for (let i = 0; i < 3; i++) await publisher.client.publishAsync(topic, `m${String(i)}`, { qos: 1 });
      for (const member of groups)
        assert.deepEqual(
          (await member.waitForMessages(3)).map((m) => m.payload),
          ['m0', 'm1', 'm2'],
        );
    });

    test(`${name}: a member with a persistent session gets the group's messages queued while no member is online`, async () => {
      const topic = `shared/offline/${String(version)}`;
      const clientId = `shared-persistent-${String(version)}`;
      const persistentOptions = options(
        version === 5
          ? { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
          : { clientId, clean: false },
      );
      const durable = await connectClient(server.mqttUrl, persistentOptions);
      await durable.client.subscribeAsync(`$share/team/${topic}`, { qos: 1 });
      const online = resources.add(await connectClient(server.mqttUrl, options()));
      await online.client.subscribeAsync(`$share/team/${topic}`, { qos: 1 });
      await durable.client.endAsync();
      const publisher = resources.add(await connectClient(server.mqttUrl, options()));
      // While a member is online, it gets everything: the offline one is skipped.
      for (let i = 0; i < 4; i++) await publisher.client.publishAsync(topic, `live${String(i)}`, { qos: 1 });
      assert.deepEqual(
        (await online.waitForMessages(4)).map((m) => m.payload),
        ['live0', 'live1', 'live2', 'live3'],
      );
      await online.client.endAsync();
      // No member online: queued for the member whose session persists.
      for (let i = 0; i < 3; i++) await publisher.client.publishAsync(topic, `queued${String(i)}`, { qos: 1 });
      const back = resources.add(await connectClient(server.mqttUrl, persistentOptions));
      assert.equal(back.connack.sessionPresent, true);
      assert.deepEqual(
        (await back.waitForMessages(3)).map((m) => m.payload),
        ['queued0', 'queued1', 'queued2'],
      );
    });

    test(`${name}: subscribing to a shared subscription sends no retained messages`, async () => {
      const topic = `shared/retained/${String(version)}`;
      const publisher = resources.add(await connectClient(server.mqttUrl, options()));
      await publisher.client.publishAsync(topic, 'retained', { qos: 1, retain: true });
      const { client } = await WireClient.connect(server.mqttPort, version, {
        clientId: `shared-retained-${String(version)}`,
      });
      resources.add(client);
      await client.subscribe(`$share/r/${topic}`, 1);
      await client.sync();
      // MQTT 5.0 §4.8.2: retained messages are not sent when a shared subscription is made.
      assert.equal(client.unread(PacketType.Publish).length, 0);
      // The subscription works for new messages.
      await publisher.client.publishAsync(topic, 'new', { qos: 1 });
      assert.equal((await client.next(PacketType.Publish)).payload.toString(), 'new');
    });

    const failure = version === 5 ? 0x8f : 0x80;
    for (const filter of [
      '$share/g',
      '$share/g/',
      '$share//t',
      '$share/g+/t',
      '$share/g#/t',
      '$share/g/t/#/x',
      '$share/g/a+b',
    ]) {
      test(`${name}: the invalid shared filter "${filter}" is refused with 0x${failure.toString(16)}`, async () => {
        const { client } = await WireClient.connect(server.mqttPort, version, {
          clientId: `bad-share-${String(version)}`,
        });
        resources.add(client);
        const suback = await client.subscribe([
          { topicFilter: filter, qos: 1 },
          { topicFilter: '$share/good/t', qos: 1 },
        ]);
        // [MQTT-4.8.2-1] [MQTT-4.8.2-2] ShareName rules; v5 0x8F Topic Filter invalid, 3.1.1 0x80 Failure.
        assert.equal(client.receivedBytes.length > 0, true);
        const rawCodes = lastSubackCodes(client.receivedBytes, version);
        assert.deepEqual(rawCodes, [failure, 1]);
        assert.deepEqual(suback.reasonCodes, [failure, 1]);
      });
    }
  }
});

/** The reason codes of the last SUBACK in `bytes` (a CONNACK, then one SUBACK, as these tests send). */
function lastSubackCodes(bytes: Buffer, version: TestProtocolVersion): number[] {
  const connackLength = 2 + bytes[1]!;
  const suback = bytes.subarray(connackLength);
  assert.equal(suback[0], 0x90);
  const remaining = suback[1]!;
  let pos = 2 + 2; // fixed header, packet id
  if (version === 5) pos += 1 + suback[pos]!; // property length (< 128 here) and properties
  return [...suback.subarray(pos, 2 + remaining)];
}
