/**
 * CloudPlugs records that carry an `id` ("id of an existing record, to modify it", device-apis.md §2.3), over MQTT
 * 3.1.1 and 5 and over HTTP: the device's stored record is replaced and its new version delivered live with the same
 * id; a record of another device is never touched (MQTT 5 0x87, HTTP 403); an id no record of the device has is
 * refused (MQTT 5 0x83, HTTP 404). On 3.1.1 a refusal is acknowledged (3.1.1 has no refusal), dropped and counted.
 * Every case runs on SQLite and on PostgreSQL (a schema of its own; skipped with the reason when it cannot be reached).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IPubackPacket } from 'mqtt-packet';
import { PROTOCOL_VERSIONS, Resources, sleep, type TestClient } from '../helpers/index.js';
import { serverStores } from '../helpers/postgres.js';
import { record, startPlugServer, type PlugServer, type Template, type Thing } from './helpers.js';

const stores = await serverStores('sb_cpmod');

const as = (thing: Thing): Record<string, string> => ({ 'x-plug-id': thing.plugId, 'x-plug-auth': thing.auth });

type StoredRecord = { id: string; channel: string; data: unknown; at: number };

/** The PUBACK of the next QoS 1 publish on `device` (MQTT.js rejects on a refusal but the packet is still seen). */
async function publishForPuback(device: TestClient, topic: string, payload: string): Promise<IPubackPacket> {
  const puback = new Promise<IPubackPacket>((resolve) => {
    const onPacket = (packet: { cmd: string }): void => {
      if (packet.cmd !== 'puback') return;
      device.client.off('packetreceive', onPacket);
      resolve(packet as IPubackPacket);
    };
    device.client.on('packetreceive', onPacket);
  });
  await device.client.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined);
  return puback;
}

for (const store of stores) {
  describe(
    `CloudPlugs record modification on ${store.name}`,
    store.skip === undefined ? {} : { skip: store.skip },
    () => {
      let server: PlugServer;
      let template: Template;
      const resources = new Resources();

      before(async () => {
        server = await startPlugServer(store.config());
        template = await server.createTemplate();
      });
      afterEach(() => resources.closeAll());
      after(() => server.close());

      /** `owner`'s records on `mask` as `reader` reads them (without `of` a reader gets its whole organization's). */
      const read = async (reader: Thing, mask: string, owner = reader): Promise<StoredRecord[]> => {
        const answer = await server.iot('GET', `/iot/data/${mask}?of=${owner.plugId}`, undefined, as(reader));
        assert.equal(answer.status, 200, answer.text);
        return answer.body as StoredRecord[];
      };

      const latest = async (thing: Thing, key: string): Promise<{ ts: number; value: unknown } | undefined> => {
        const answer = await server.api('GET', `/api/devices/${thing.deviceId}/telemetry/latest`);
        return (answer.body as Record<string, { ts: number; value: unknown }>)[key];
      };

      for (const version of PROTOCOL_VERSIONS) {
        it(`${version === 4 ? 'MQTT 3.1.1' : 'MQTT 5'}: a published record with the id of the device’s record replaces it; subscribers get the new version with that id and HTTP reads it once`, async () => {
          const thing = await server.createThing(template);
          const reader = await server.createThing(template);
          const subscriber = resources.add(await server.connectThing(reader, { protocolVersion: version }));
          await subscriber.client.subscribeAsync(`${thing.plugId}/data/#`);
          const device = resources.add(await server.connectThing(thing, { protocolVersion: version }));
          await device.client.publishAsync(`${thing.plugId}/data/temp`, '{"data": 20, "at": 1000, "ttl": 3600}', {
            qos: 1,
          });
          const [first] = await subscriber.waitForMessages(1);
          const original = record(first?.payload ?? '');
          await device.client.publishAsync(`${thing.plugId}/data/temp`, JSON.stringify({ id: original.id, data: 21 }), {
            qos: 1,
          });
          const messages = await subscriber.waitForMessages(2);
          assert.equal(messages[1]?.topic, `${thing.plugId}/data/temp`);
          // No `at` in the modification: the record keeps its time.
          assert.deepEqual(record(messages[1]?.payload ?? ''), { id: original.id, data: 21, at: 1000 });
          assert.deepEqual(
            (await read(reader, 'temp', thing)).map((r) => [r.id, r.data, r.at]),
            [[original.id, 21, 1000]],
          );
          // The telemetry copy at the record's time holds the new value.
          assert.deepEqual(await latest(thing, 'temp'), { ts: 1000, value: 21 });
        });
      }

      it('MQTT 5: modifying another device’s record gets PUBACK 0x87, an unknown id 0x83, each with a reason string; nothing changes and the session stays', async () => {
        const owner = await server.createThing(template);
        const intruder = await server.createThing(template);
        const subscriber = resources.add(await server.connectThing(owner, { protocolVersion: 5 }));
        await subscriber.client.subscribeAsync(`${owner.plugId}/data/#`);
        await subscriber.client.publishAsync(`${owner.plugId}/data/door`, '{"data": "closed", "at": 5000}', { qos: 1 });
        const [stored] = await read(owner, 'door');
        assert.ok(stored !== undefined);
        const device = resources.add(await server.connectThing(intruder, { protocolVersion: 5 }));
        const foreign = await publishForPuback(
          device,
          `${intruder.plugId}/data/door`,
          JSON.stringify({ id: stored.id, data: 'open' }),
        );
        assert.equal(foreign.reasonCode, 0x87);
        assert.match(foreign.properties?.reasonString ?? '', /another device/);
        const unknown = await publishForPuback(
          device,
          `${intruder.plugId}/data/door`,
          JSON.stringify({ id: 'f'.repeat(24), data: 'open' }),
        );
        assert.equal(unknown.reasonCode, 0x83);
        assert.match(unknown.properties?.reasonString ?? '', /no record/);
        assert.ok(device.client.connected);
        assert.deepEqual(await read(owner, 'door'), [stored]);
        assert.deepEqual(await read(intruder, 'door', intruder), []);
        assert.deepEqual(await latest(intruder, 'door'), undefined);
        await sleep(50);
        assert.equal(subscriber.messages.length, 1, 'only the original record was delivered');
      });

      it('MQTT 3.1.1: a refused modification is acknowledged, dropped and counted; the connection stays and the record is unchanged', async () => {
        const owner = await server.createThing(template);
        const intruder = await server.createThing(template);
        const ownDevice = resources.add(await server.connectThing(owner, { protocolVersion: 4 }));
        await ownDevice.client.publishAsync(`${owner.plugId}/data/valve`, '{"data": 1}', { qos: 1 });
        const [stored] = await read(owner, 'valve');
        assert.ok(stored !== undefined);
        const device = resources.add(await server.connectThing(intruder, { protocolVersion: 4 }));
        const droppedBefore = server.test.broker.stats.messagesDropped;
        const foreign = await publishForPuback(
          device,
          `${intruder.plugId}/data/valve`,
          JSON.stringify({ id: stored.id, data: 2 }),
        );
        assert.equal(foreign.reasonCode ?? 0, 0);
        const unknown = await publishForPuback(
          device,
          `${intruder.plugId}/data/valve`,
          JSON.stringify({ id: 'e'.repeat(24), data: 2 }),
        );
        assert.equal(unknown.reasonCode ?? 0, 0);
        assert.equal(server.test.broker.stats.messagesDropped - droppedBefore, 2);
        assert.ok(device.client.connected);
        assert.deepEqual(await read(owner, 'valve'), [stored]);
      });

      it('PUT /iot/data with the id of the device’s record replaces it: 200 the id, delivered live, read back once', async () => {
        const thing = await server.createThing(template);
        const subscriber = resources.add(await server.connectThing(thing));
        await subscriber.client.subscribeAsync(`${thing.plugId}/data/#`);
        const created = await server.iot('PUT', '/iot/data/meter', { data: 100, at: 1_000 }, as(thing));
        assert.equal(created.status, 200, created.text);
        const id = created.body as string;
        const modified = await server.iot(
          'PUT',
          '/iot/data/meter',
          { id, data: 101, at: '1970-01-01T00:00:02.000500Z', ttl: 60 },
          as(thing),
        );
        assert.equal(modified.status, 200, modified.text);
        assert.equal(modified.body, id);
        const messages = await subscriber.waitForMessages(2);
        assert.deepEqual(record(messages[1]?.payload ?? ''), { id, data: 101, at: 2_000 });
        assert.deepEqual(
          (await read(thing, 'meter')).map((r) => [r.id, r.data, r.at]),
          [[id, 101, 2_000]],
        );
        // A new time: the telemetry copy is written there; the value at the old time stays as history.
        assert.deepEqual(await latest(thing, 'meter'), { ts: 2_000, value: 101 });
      });

      it('PUT /iot/data modifying another device’s record is 403 and an unknown id 404, with err; nothing changes', async () => {
        const owner = await server.createThing(template);
        const intruder = await server.createThing(template);
        const created = await server.iot('PUT', '/iot/data/lock', { data: 'locked' }, as(owner));
        const id = created.body as string;
        const before = await read(owner, 'lock');
        const foreign = await server.iot('PUT', '/iot/data/lock', { id, data: 'open' }, as(intruder));
        assert.equal(foreign.status, 403, foreign.text);
        assert.deepEqual(foreign.body, {
          err: 403,
          error: 'FORBIDDEN',
          message: `record ${id} belongs to another device`,
        });
        const unknown = await server.iot('PUT', '/iot/data/lock', { id: 'd'.repeat(24), data: 'open' }, as(owner));
        assert.equal(unknown.status, 404, unknown.text);
        assert.equal((unknown.body as { err: number }).err, 404);
        assert.deepEqual(await read(owner, 'lock'), before);
        assert.deepEqual(await read(intruder, 'lock'), []);
      });

      it('a modification may not set is_priv (400): privacy is fixed when a record is created', async () => {
        const thing = await server.createThing(template);
        const created = await server.iot('PUT', '/iot/data/note', { data: 'a' }, as(thing));
        const id = created.body as string;
        const answer = await server.iot('PUT', '/iot/data/note', { id, data: 'b', is_priv: true }, as(thing));
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(
          (await read(thing, 'note')).map((r) => r.data),
          ['a'],
        );
      });
    },
  );
}
