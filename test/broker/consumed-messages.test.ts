/**
 * Messages the platform consumes (`onMessage` → `{ action: 'consume', ack }`): not routed, acknowledged only when the
 * platform settles the ack (e.g. once telemetry is committed), acks still in arrival order; the `disconnect` verdict;
 * and `Broker.sendToClient`'s delivery callback, which RPC delivery states rely on.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { DeferredAck, type Broker } from '../../src/broker/index.js';
import { PacketType, ReasonCode } from '../../src/mqtt/codec/index.js';
import { startHookedBroker } from '../helpers/hooked-broker.js';
import { PROTOCOL_VERSIONS, Resources } from '../helpers/mqtt-js.js';
import { WireClient } from '../helpers/raw-client.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

const versionName = (version: 4 | 5): string => (version === 5 ? 'MQTT 5' : 'MQTT 3.1.1');

/** A broker whose hook consumes every message on `platform/…` and hands its ack to the test. */
async function startConsumingBroker(): Promise<{ port: number; broker: Broker; acks: Map<string, DeferredAck> }> {
  const acks = new Map<string, DeferredAck>();
  const harness = resources.add(
    await startHookedBroker({
      onMessage: (_client, message) => {
        if (message.topicName === 'platform/refuse-now') {
          return { action: 'disconnect', reasonCode: ReasonCode.PayloadFormatInvalid, reasonString: 'bad payload' };
        }
        if (!message.topicName.startsWith('platform/')) return undefined;
        const ack = new DeferredAck();
        acks.set(message.payload.toString(), ack);
        return { action: 'consume', ack };
      },
    }),
  );
  return { port: harness.port, broker: harness.broker, acks };
}

async function wire(port: number, version: 4 | 5, clientId = ''): Promise<WireClient> {
  const { client, connack } = await WireClient.connect(port, version, { clientId });
  assert.equal(connack.reasonCode, 0);
  return resources.add(client);
}

for (const version of PROTOCOL_VERSIONS) {
  describe(`consumed messages, ${versionName(version)}`, () => {
    test('a consumed QoS 1 message is not routed and its PUBACK waits until the platform settles it', async () => {
      const { port, acks } = await startConsumingBroker();
      const subscriber = await wire(port, version);
      await subscriber.subscribe('#', 1);
      const device = await wire(port, version);
      const packetId = device.publish('platform/telemetry', 'm1', { qos: 1 });
      await device.sync();
      assert.deepEqual(device.unread(PacketType.Puback), [], 'no PUBACK before the platform settled');
      acks.get('m1')!.settle();
      const puback = await device.next(PacketType.Puback, (p) => p.packetId === packetId);
      assert.equal(puback.reasonCode, 0);
      await subscriber.sync();
      assert.deepEqual(subscriber.unread(PacketType.Publish), [], 'consumed messages are never routed');
    });

    test('acks leave in arrival order even when settled out of order [MQTT-4.6.0-2]', async () => {
      const { port, acks } = await startConsumingBroker();
      const device = await wire(port, version);
      const first = device.publish('platform/a', 'first', { qos: 1 });
      const second = device.publish('platform/b', 'second', { qos: 1 });
      const plain = device.publish('plain/topic', 'third', { qos: 1 });
      await device.sync();
      assert.deepEqual(device.unread(PacketType.Puback), [], 'the plain message waits behind the held ones');
      acks.get('second')!.settle();
      await device.sync();
      assert.deepEqual(device.unread(PacketType.Puback), [], 'the second waits for the first');
      acks.get('first')!.settle();
      const order = [
        await device.next(PacketType.Puback),
        await device.next(PacketType.Puback),
        await device.next(PacketType.Puback),
      ].map((p) => p.packetId);
      assert.deepEqual(order, [first, second, plain]);
    });

    test('a refusal code from the platform reaches MQTT 5 clients; 3.1.1 gets a plain PUBACK', async () => {
      const { port, acks } = await startConsumingBroker();
      const device = await wire(port, version);
      const packetId = device.publish('platform/telemetry', 'not json', { qos: 1 });
      await device.sync();
      acks.get('not json')!.settle(ReasonCode.PayloadFormatInvalid);
      const puback = await device.next(PacketType.Puback, (p) => p.packetId === packetId);
      assert.equal(puback.reasonCode, version === 5 ? ReasonCode.PayloadFormatInvalid : 0);
      assert.equal(device.isClosed, false, 'the session is kept');
    });

    test('the platform may close the connection instead of acknowledging (v5 DISCONNECT with its reason)', async () => {
      const { port, acks } = await startConsumingBroker();
      const device = await wire(port, version);
      device.publish('platform/telemetry', 'broken', { qos: 1 });
      await device.sync();
      acks.get('broken')!.disconnect(ReasonCode.ImplementationSpecificError, 'storage failed');
      if (version === 5) {
        const disconnect = await device.nextDisconnect();
        assert.equal(disconnect.reasonCode, ReasonCode.ImplementationSpecificError);
      }
      await device.closed();
      assert.deepEqual(device.unread(PacketType.Puback), [], 'no PUBACK for data that was not stored');
    });

    test('the disconnect verdict closes the connection at once', async () => {
      const { port } = await startConsumingBroker();
      const device = await wire(port, version);
      device.publish('platform/refuse-now', '{', { qos: 1 });
      if (version === 5) {
        const disconnect = await device.nextDisconnect();
        assert.equal(disconnect.reasonCode, ReasonCode.PayloadFormatInvalid);
      }
      await device.closed();
    });

    test('a consumed QoS 2 message gets PUBREC after settling and is consumed once, even if resent [MQTT-4.3.3-9]', async () => {
      const { port, acks } = await startConsumingBroker();
      const device = await wire(port, version);
      const packetId = device.publish('platform/qos2', 'once', { qos: 2 });
      await device.sync();
      assert.deepEqual(device.unread(PacketType.Pubrec), []);
      const ack = acks.get('once')!;
      acks.clear();
      ack.settle();
      await device.next(PacketType.Pubrec, (p) => p.packetId === packetId);
      device.publish('platform/qos2', 'once', { qos: 2, packetId, isDuplicate: true });
      await device.next(PacketType.Pubrec, (p) => p.packetId === packetId);
      assert.equal(acks.size, 0, 'the resent PUBLISH did not reach the platform again');
      device.ack(PacketType.Pubrel, packetId);
      await device.next(PacketType.Pubcomp, (p) => p.packetId === packetId);
    });

    test('sendToClient reports delivery of QoS 1 on the PUBACK, not before', async () => {
      const { port, broker } = await startConsumingBroker();
      const device = await wire(port, version, 'rpc-device');
      await device.sync();
      let acknowledged = 0;
      const sent = broker.sendToClient(
        'x-not-connected',
        { topicName: 'rpc/request/1', payload: Buffer.from('{}'), qos: 1, isRetained: false, properties: undefined },
        () => acknowledged++,
      );
      assert.equal(sent, false, 'an unknown client is reported, not queued');
      assert.equal(
        broker.sendToClient(
          'rpc-device',
          { topicName: 'rpc/request/2', payload: Buffer.from('{}'), qos: 1, isRetained: false, properties: undefined },
          () => acknowledged++,
        ),
        true,
      );
      const [request] = await device.nextPublishes(1);
      await device.sync();
      assert.equal(acknowledged, 0, 'not delivered until the client acknowledged');
      device.ack(PacketType.Puback, request!.packetId);
      await device.sync();
      assert.equal(acknowledged, 1);
    });
  });
}
