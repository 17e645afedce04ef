/**
 * `$SYS/broker/...` topics, static ACL rules from the config file, and the hooks the platform plugs into
 * (authenticate, authorizePublish, authorizeSubscribe, onMessage, lifecycle events).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import type { ClientInfo } from '../../src/broker/index.js';
import { PacketType, ReasonCode } from '../../src/mqtt/codec/index.js';
import type { AckPacket } from '../../src/mqtt/codec/index.js';
import { connectClient, PROTOCOL_VERSIONS, Resources, waitFor } from '../helpers/mqtt-js.js';
import { WireClient } from '../helpers/raw-client.js';
import { startHookedBroker } from '../helpers/hooked-broker.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

const versionName = (version: 4 | 5): string => (version === 5 ? 'MQTT 5' : 'MQTT 3.1.1');

/** The PUBACK (QoS 1) or PUBREC (QoS 2) for `packetId`. */
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

describe('$SYS topics', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ mqtt: { sysIntervalSeconds: 1 } });
  });
  after(() => server.close());

  test('a $SYS/# subscriber receives version, uptime, clients, messages, subscriptions, retained and dropped counts', async () => {
    const subscriber = resources.add(await connectClient(server.mqttUrl));
    await subscriber.client.subscribeAsync('$SYS/#');
    const expected = [
      'version',
      'uptime',
      'clients/connected',
      'messages/received',
      'messages/sent',
      'messages/dropped',
      'subscriptions/count',
      'retained messages/count',
    ].map((name) => `$SYS/broker/${name}`);
    const seen = (): Set<string> => new Set(subscriber.messages.map((m) => m.topic));
    await waitFor(
      () => expected.every((topic) => seen().has(topic)),
      `every $SYS topic (saw ${[...seen()].join(', ')})`,
    );
    const latest = (topic: string): string => subscriber.messages.filter((m) => m.topic === topic).at(-1)!.payload;
    assert.match(latest('$SYS/broker/version'), /^switchboard /);
    assert.match(latest('$SYS/broker/uptime'), /^\d+ seconds$/);
    for (const topic of expected.slice(2)) assert.match(latest(topic), /^\d+$/, topic);
  });

  test('the counters are updated every interval: clients connected, messages received, subscriptions', async () => {
    const watcher = resources.add(await connectClient(server.mqttUrl));
    await watcher.client.subscribeAsync('$SYS/broker/#');
    const extra = resources.add(await connectClient(server.mqttUrl, { protocolVersion: 5 }));
    await extra.client.subscribeAsync(['sys/a', 'sys/b']);
    const received = server.broker.stats.messagesReceived;
    await extra.client.publishAsync('sys/a', 'x', { qos: 1 });
    const value = (name: string): number => {
      const found = watcher.messages.filter((m) => m.topic === `$SYS/broker/${name}`).at(-1);
      return found === undefined ? -1 : Number(found.payload);
    };
    await waitFor(
      () =>
        value('clients/connected') >= 2 && value('messages/received') > received && value('subscriptions/count') >= 3,
      'updated $SYS counters',
    );
    assert.equal(value('clients/connected'), server.broker.stats.clientsConnected);
  });

  test('a # subscriber does not receive $SYS topics', async () => {
    const own = resources.add(await startTestServer({ mqtt: { sysIntervalSeconds: 1 } }));
    const everything = resources.add(await connectClient(own.mqttUrl));
    await everything.client.subscribeAsync(['#', '+/broker/#']);
    const sys = resources.add(await connectClient(own.mqttUrl));
    await sys.client.subscribeAsync('$SYS/broker/uptime');
    // Wait for a fresh $SYS round after both subscriptions exist (the retained one comes at once, then one per second).
    await sys.waitForMessages(2);
    await sys.client.publishAsync('marker', 'm', { qos: 1 });
    await everything.waitForMessages(1, (m) => m.topic === 'marker');
    // [MQTT-4.7.2-1] filters starting with a wildcard must not match topic names beginning with $.
    assert.deepEqual(
      everything.messages.map((m) => m.topic),
      ['marker'],
    );
  });

  for (const version of PROTOCOL_VERSIONS) {
    test(`${versionName(version)}: a client cannot publish into $SYS`, async () => {
      const watcher = resources.add(await connectClient(server.mqttUrl));
      await watcher.client.subscribeAsync('$SYS/broker/version');
      await watcher.waitForMessages(1);
      const client = await wire(server.mqttPort, version);
      const id = client.publish('$SYS/broker/version', 'forged', { qos: 1 });
      const puback = await nextAck(client, PacketType.Puback, id);
      assert.equal(puback.reasonCode, version === 5 ? ReasonCode.NotAuthorized : 0);
      const retained = resources.add(await connectClient(server.mqttUrl));
      await retained.client.subscribeAsync('$SYS/broker/version');
      const [message] = await retained.waitForMessages(1);
      assert.notEqual(message!.payload, 'forged');
    });
  }
});

describe('static ACL rules', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      acl: [
        { action: 'subscribe', topic: 'test/nosubscribe', allow: false },
        { action: 'publish', topic: 'secure/#', clientIds: ['trusted'], allow: true },
        { action: 'publish', topic: 'secure/#', allow: false },
        { action: 'all', topic: 'private/#', users: ['alice'], allow: true },
        { action: 'all', topic: 'private/#', allow: false },
      ],
    });
    // User names the server can verify: devices with MQTT basic credentials (user name and password).
    const org = await server.server.platform.entities.createOrganization({ name: 'ACL tests' });
    for (const name of ['alice', 'bob']) {
      await server.server.platform.entities.createDevice(org.id, {
        name,
        credentials: { type: 'MQTT_BASIC', clientId: null, username: name, password: `${name}-secret` },
      });
    }
  });
  after(() => server.close());

  for (const version of PROTOCOL_VERSIONS) {
    describe(versionName(version), () => {
      test('a refused subscription gets 0x87 (v5) / 0x80 (3.1.1) while the others in the same SUBSCRIBE are granted', async () => {
        const client = await wire(server.mqttPort, version);
        const suback = await client.subscribe([
          { topicFilter: 'test/nosubscribe', qos: 1 },
          { topicFilter: 'test/other', qos: 1 },
        ]);
        // [MQTT-3.9.3-1] one return code per filter, in order; 0x80 is the only 3.1.1 failure code.
        assert.deepEqual(suback.reasonCodes, [version === 5 ? ReasonCode.NotAuthorized : 0x80, 1]);
      });

      test('a publish rule limited to a client id: that client publishes, others are refused (v5 0x87) or acked and dropped (3.1.1)', async () => {
        const watcher = resources.add(
          await connectClient(server.mqttUrl, { clientId: `acl-watch-${String(version)}` }),
        );
        await watcher.client.subscribeAsync('secure/#', { qos: 1 });
        const other = await wire(server.mqttPort, version, { clientId: `intruder-${String(version)}` });
        const refusedId = other.publish('secure/door', 'open', { qos: 1 });
        const refused = await nextAck(other, PacketType.Puback, refusedId);
        assert.equal(refused.reasonCode, version === 5 ? ReasonCode.NotAuthorized : 0);
        // First match wins: 'trusted' meets the allow rule before the general deny.
        const trusted = await wire(server.mqttPort, version, { clientId: 'trusted' });
        const allowedId = trusted.publish('secure/door', 'closed', { qos: 1 });
        assert.equal((await nextAck(trusted, PacketType.Puback, allowedId)).reasonCode, 0);
        const messages = await watcher.waitForMessages(1);
        assert.deepEqual(
          messages.map((m) => m.payload),
          ['closed'],
        );
      });

      test('rules limited to a user name apply to subscribe and publish (action all)', async () => {
        const alice = await wire(server.mqttPort, version, {
          username: 'alice',
          password: Buffer.from('alice-secret'),
          clientId: `alice-${String(version)}`,
        });
        assert.deepEqual((await alice.subscribe('private/#', 1)).reasonCodes, [1]);
        const bob = await wire(server.mqttPort, version, {
          username: 'bob',
          password: Buffer.from('bob-secret'),
          clientId: `bob-${String(version)}`,
        });
        assert.deepEqual((await bob.subscribe('private/#', 1)).reasonCodes, [
          version === 5 ? ReasonCode.NotAuthorized : 0x80,
        ]);
        const bobId = bob.publish('private/note', 'from bob', { qos: 1 });
        assert.equal(
          (await nextAck(bob, PacketType.Puback, bobId)).reasonCode,
          version === 5 ? ReasonCode.NotAuthorized : 0,
        );
        const aliceId = alice.publish('private/note', 'from alice', { qos: 1 });
        assert.equal((await nextAck(alice, PacketType.Puback, aliceId)).reasonCode, 0);
        const [delivered] = await alice.nextPublishes(1);
        assert.equal(delivered!.payload.toString(), 'from alice');
      });

      test('a refused QoS 2 publish is answered with PUBREC (0x87 in v5) and never delivered', async () => {
        const watcher = resources.add(await connectClient(server.mqttUrl));
        await watcher.client.subscribeAsync('secure/#', { qos: 2 });
        const other = await wire(server.mqttPort, version);
        const id = other.publish('secure/q2', 'nope', { qos: 2 });
        const pubrec = await nextAck(other, PacketType.Pubrec, id);
        assert.equal(pubrec.reasonCode, version === 5 ? ReasonCode.NotAuthorized : 0);
        if (version === 4) {
          other.ack(PacketType.Pubrel, id);
          await other.next(PacketType.Pubcomp, (p) => p.packetId === id);
        }
        await watcher.client.publishAsync('marker/acl', 'm');
        await other.sync();
        assert.equal(watcher.messages.filter((m) => m.topic === 'secure/q2').length, 0);
      });
    });
  }
});

describe('hooks', () => {
  for (const version of PROTOCOL_VERSIONS) {
    describe(versionName(version), () => {
      test('authenticate refuses with a reason code (0x86 → 3.1.1 0x04) and attaches an identity others hooks see', async () => {
        const identities: unknown[] = [];
        const harness = await startHookedBroker({
          authenticate: async (request) => {
            await Promise.resolve();
            if (request.password?.toString() !== 'secret')
              return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword };
            return { ok: true, identity: { deviceId: `device:${request.username ?? ''}` } };
          },
          authorizePublish: (client: ClientInfo) => {
            identities.push(client.identity);
            return true;
          },
        });
        resources.add(harness);
        const { client: refused, connack } = await WireClient.connect(harness.port, version, {
          clientId: 'bad',
          username: 'dev1',
          password: Buffer.from('wrong'),
        });
        resources.add(refused);
        // MQTT 5 §3.2.2.2: a refusing CONNACK, then the connection closes.
        assert.equal(connack.reasonCode, ReasonCode.BadUserNameOrPassword);
        await refused.closed();
        // On the wire: 3.1.1 return code 0x04 (the decoder maps it back to 0x86).
        assert.deepEqual(
          [...refused.receivedBytes.subarray(0, 4)],
          version === 5 ? [0x20, refused.receivedBytes[1]!, 0x00, 0x86] : [0x20, 0x02, 0x00, 0x04],
        );
        const accepted = await wire(harness.port, version, {
          clientId: 'good',
          username: 'dev1',
          password: Buffer.from('secret'),
        });
        const id = accepted.publish('t', 'x', { qos: 1 });
        await nextAck(accepted, PacketType.Puback, id);
        assert.deepEqual(identities, [{ deviceId: 'device:dev1' }]);
      });

      test('authorizePublish refuses: v5 PUBACK 0x87, 3.1.1 acknowledged and dropped', async () => {
        const harness = resources.add(
          await startHookedBroker({
            authorizePublish: (_client, topicName) => (topicName.startsWith('deny/') ? ReasonCode.NotAuthorized : true),
          }),
        );
        const subscriber = await wire(harness.port, version);
        await subscriber.subscribe('#', 1);
        const publisher = await wire(harness.port, version);
        const deniedId = publisher.publish('deny/x', 'no', { qos: 1 });
        assert.equal(
          (await nextAck(publisher, PacketType.Puback, deniedId)).reasonCode,
          version === 5 ? ReasonCode.NotAuthorized : 0,
        );
        publisher.publish('allow/x', 'yes', { qos: 1 });
        const [delivered] = await subscriber.nextPublishes(1);
        assert.equal(delivered!.topicName, 'allow/x');
        await subscriber.sync();
        assert.equal(subscriber.unread(PacketType.Publish).length, 0);
      });

      test('a hook that throws closes only that client (v5 DISCONNECT 0x80); the broker keeps serving others', async () => {
        const harness = resources.add(
          await startHookedBroker({
            authorizePublish: (_client, topicName) => {
              if (topicName === 'boom') throw new Error('hook failure');
              return true;
            },
          }),
        );
        const subscriber = await wire(harness.port, version);
        await subscriber.subscribe('ok', 1);
        const victim = await wire(harness.port, version);
        victim.publish('boom', 'x', { qos: 1 });
        if (version === 5) {
          assert.equal((await victim.nextDisconnect()).reasonCode, ReasonCode.UnspecifiedError);
        }
        await victim.closed();
        const publisher = await wire(harness.port, version);
        publisher.publish('ok', 'still served', { qos: 1 });
        const [delivered] = await subscriber.nextPublishes(1);
        assert.equal(delivered!.payload.toString(), 'still served');
      });

      test('authorizeSubscribe downgrades the QoS or refuses a filter (0x87 / 0x80)', async () => {
        const harness = resources.add(
          await startHookedBroker({
            authorizeSubscribe: (_client, topicFilter, qos) => {
              if (topicFilter === 'forbidden') return ReasonCode.NotAuthorized;
              if (topicFilter === 'limited') return 0;
              return qos;
            },
          }),
        );
        const subscriber = await wire(harness.port, version);
        const suback = await subscriber.subscribe([
          { topicFilter: 'forbidden', qos: 1 },
          { topicFilter: 'limited', qos: 2 },
          { topicFilter: 'free', qos: 2 },
        ]);
        assert.deepEqual(suback.reasonCodes, [version === 5 ? ReasonCode.NotAuthorized : 0x80, 0, 2]);
        const publisher = await wire(harness.port, version);
        publisher.publish('limited', 'q', { qos: 2 });
        const [delivered] = await subscriber.nextPublishes(1);
        // [MQTT-3.8.4-6] delivered at no more than the granted QoS.
        assert.equal(delivered!.qos, 0);
      });

      test('onMessage transforms, drops or answers a message', async () => {
        const ref: { broker?: Broker } = {};
        const harness = resources.add(
          await startHookedBroker({
            onMessage: (client, message) => {
              if (message.topicName === 'drop') return { action: 'drop', reasonCode: ReasonCode.PayloadFormatInvalid };
              if (message.topicName === 'rpc/ping') {
                ref.broker!.sendToClient(client.clientId, {
                  topicName: 'rpc/pong',
                  payload: Buffer.from('pong'),
                  qos: 0,
                  isRetained: false,
                  properties: undefined,
                });
                return { action: 'drop' };
              }
              return {
                action: 'route',
                message: { ...message, payload: Buffer.from(message.payload.toString().toUpperCase()) },
              };
            },
          }),
        );
        ref.broker = harness.broker;
        const subscriber = await wire(harness.port, version);
        await subscriber.subscribe('#', 1);
        const publisher = await wire(harness.port, version);
        const dropId = publisher.publish('drop', 'gone', { qos: 1 });
        assert.equal(
          (await nextAck(publisher, PacketType.Puback, dropId)).reasonCode,
          version === 5 ? ReasonCode.PayloadFormatInvalid : 0,
        );
        publisher.publish('rpc/ping', 'ping', { qos: 1 });
        const [pong] = await publisher.nextPublishes(1);
        assert.equal(pong!.topicName, 'rpc/pong');
        publisher.publish('shout', 'hello', { qos: 1 });
        const [delivered] = await subscriber.nextPublishes(1);
        assert.equal(delivered!.topicName, 'shout');
        assert.equal(delivered!.payload.toString(), 'HELLO');
      });

      test('lifecycle events: connected and disconnected with the reason code', async () => {
        const events: string[] = [];
        const harness = resources.add(
          await startHookedBroker({
            onClientConnected: (client) =>
              events.push(`connected ${client.clientId} v${String(client.protocolVersion)}`),
            onClientDisconnected: (client, reasonCode) =>
              events.push(`disconnected ${client.clientId} 0x${reasonCode.toString(16)}`),
          }),
        );
        const client = await wire(harness.port, version, { clientId: 'life' });
        await waitFor(() => events.length === 1, 'connected event');
        await client.close(true);
        await waitFor(() => events.length === 2, 'disconnected event');
        const lost = await wire(harness.port, version, { clientId: 'lost' });
        await lost.destroy();
        await waitFor(() => events.length === 4, 'events for the lost client');
        assert.deepEqual(events.slice(0, 3), [
          `connected life v${String(version)}`,
          'disconnected life 0x0',
          `connected lost v${String(version)}`,
        ]);
        assert.match(events[3]!, /^disconnected lost 0x/);
        // Each connection is counted out once ($SYS clients/connected).
        assert.equal(harness.broker.stats.clientsConnected, 0);
      });
    });
  }
});
