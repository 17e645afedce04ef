/**
 * CloudPlugs data over MQTT: records on `<plug-id>/data/<channel>` stored whatever their QoS and delivered live (after
 * the commit) to every `<plug-id-or-+>/data/<mask>` subscriber the permission filter allows; logins by Plug-ID and
 * by account e-mail; disabled devices; bad records; properties answered on the request topic.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { clientClosed, connectClient, Resources, runMosquitto } from '../helpers/index.js';
import { record, startPlugServer, type PlugServer, type Template, type Thing } from './helpers.js';

/** The records of `thing` on `channel` the HTTP API has stored, newest first. */
async function stored(
  server: PlugServer,
  thing: Thing,
  channel: string,
): Promise<{ id: string; data: unknown; at: number }[]> {
  const answer = await server.iot('GET', `/iot/data/${channel}`, undefined, {
    'x-plug-id': thing.plugId,
    'x-plug-auth': thing.auth,
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.body as { id: string; data: unknown; at: number }[];
}

/** The PUBACK reason code of a QoS 1 publish (MQTT.js rejects on a refusal with the code). */
async function pubackCode(publishing: Promise<unknown>): Promise<number> {
  try {
    const packet = (await publishing) as { reasonCode?: number } | undefined;
    return packet?.reasonCode ?? 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('CloudPlugs data over MQTT', () => {
  let server: PlugServer;
  let template: Template;
  const resources = new Resources();

  before(async () => {
    server = await startPlugServer();
    template = await server.createTemplate();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  it('a QoS 0 record from mosquitto_pub is stored and reaches a +/data/# subscriber as {"id","data","at"}', async () => {
    const publisher = await server.createThing(template);
    const reader = await server.createThing(template);
    const subscriber = resources.add(await server.connectThing(reader));
    await subscriber.client.subscribeAsync('+/data/#');
    const pub = runMosquitto('mosquitto_pub', server.test.mqttPort, [
      '-i',
      `${publisher.hwid}/pub`,
      '-u',
      publisher.plugId,
      '-P',
      publisher.auth,
      '-t',
      `${publisher.plugId}/data/room/temp`,
      '-q',
      '0',
      '-m',
      '{"data": {"c": 21.5}, "at": 1700000000000}',
    ]);
    assert.equal((await pub.result).code, 0);
    const [message] = await subscriber.waitForMessages(1);
    assert.equal(message?.topic, `${publisher.plugId}/data/room/temp`);
    const delivered = record(message?.payload ?? '');
    assert.deepEqual(delivered.data, { c: 21.5 });
    assert.equal(delivered.at, 1_700_000_000_000);
    assert.match(delivered.id, /^[0-9a-f]{24}$/);
    // Delivered only after the commit: the record is already readable.
    const rows = await stored(server, publisher, 'room/temp');
    assert.deepEqual(
      rows.map((r) => r.id),
      [delivered.id],
    );
  });

  it('a QoS 1 record is acknowledged once stored; `at` defaults to the receive time and ttl sets the expiry', async () => {
    const thing = await server.createThing(template);
    const device = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    const before = Date.now();
    await device.client.publishAsync(`${thing.plugId}/data/level`, '{"data": 3, "ttl": 3600}', { qos: 1 });
    const [row] = await stored(server, thing, 'level');
    assert.equal(row?.data, 3);
    assert.ok((row?.at ?? 0) >= before && (row?.at ?? 0) <= Date.now());
    // The record is also a telemetry point with key = channel, for the management API and other dialects.
    const latest = await server.api('GET', `/api/devices/${thing.deviceId}/telemetry/latest`);
    assert.equal((latest.body as Record<string, { value: unknown }>)['level']?.value, 3);
  });

  it('MQTT 5: a record that is not JSON, lacks data or has an unknown field gets PUBACK 0x99; the session stays', async () => {
    const thing = await server.createThing(template);
    const device = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    for (const payload of ['not json', '{"value": 1}', '{"data": 1, "colour": "red"}', '{"data": 1, "at": "soon"}']) {
      const code = await pubackCode(device.client.publishAsync(`${thing.plugId}/data/bad`, payload, { qos: 1 }));
      assert.equal(code, 0x99, payload);
    }
    assert.ok(device.client.connected);
    assert.deepEqual(await stored(server, thing, 'bad'), []);
  });

  it('publishing on another device’s Plug-ID or of it needs of.w (PUBACK 0x87); an unknown topic of the namespace 0x90', async () => {
    const thing = await server.createThing(template);
    const other = await server.createThing(template);
    const device = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    assert.equal(
      await pubackCode(device.client.publishAsync(`${other.plugId}/data/x`, '{"data": 1}', { qos: 1 })),
      0x87,
    );
    const onBehalf = device.client.publishAsync(`${thing.plugId}/data/x`, `{"data": 1, "of": "${other.plugId}"}`, {
      qos: 1,
    });
    assert.equal(await pubackCode(onBehalf), 0x87);
    assert.equal(
      await pubackCode(device.client.publishAsync(`${thing.plugId}/nothing`, '{"data": 1}', { qos: 1 })),
      0x90,
    );
    // Granted write permission (of.w) makes the same record acceptable, stored as the other device's.
    await server.api('PATCH', `/api/devices/${thing.deviceId}`, {
      cloudplugs: { perm: { of: { w: [other.plugId] } } },
    });
    const allowed = device.client.publishAsync(`${thing.plugId}/data/x`, `{"data": 5, "of": "${other.plugId}"}`, {
      qos: 1,
    });
    assert.equal(await pubackCode(allowed), 0);
    assert.deepEqual(
      (await stored(server, other, 'x')).map((r) => r.data),
      [5],
    );
  });

  it('a permission filter with of.r = [] stops deliveries of other devices at once; its own still arrive', async () => {
    const publisher = await server.createThing(template);
    const reader = await server.createThing(template);
    const subscriber = resources.add(await server.connectThing(reader));
    await subscriber.client.subscribeAsync('+/data/perm');
    const device = resources.add(await server.connectThing(publisher));
    await device.client.publishAsync(`${publisher.plugId}/data/perm`, '{"data": "before"}');
    await subscriber.waitForMessages(1);

    const patched = await server.api('PATCH', `/api/devices/${reader.deviceId}`, {
      cloudplugs: { perm: { of: { r: [] } } },
    });
    assert.equal(patched.status, 200);
    await device.client.publishAsync(`${publisher.plugId}/data/perm`, '{"data": "hidden"}', { qos: 1 });
    const own = resources.add(await server.connectThing(reader, { clientId: `${reader.hwid}/second` }));
    await own.client.publishAsync(`${reader.plugId}/data/perm`, '{"data": "own"}', { qos: 1 });
    // Deliveries keep commit order: once the reader's own record arrived, the hidden one would have come before it.
    const messages = await subscriber.waitForMessages(2);
    assert.deepEqual(
      messages.map((m) => record(m.payload).data),
      ['before', 'own'],
    );
  });

  it('a subscription to a device the filter does not allow is refused; a bad filter is refused with 400', async () => {
    const target = await server.createThing(template);
    const reader = await server.createThing(template);
    await server.api('PATCH', `/api/devices/${reader.deviceId}`, { cloudplugs: { perm: { of: { r: [] } } } });
    const subscriber = resources.add(await server.connectThing(reader, { protocolVersion: 5 }));
    await assert.rejects(subscriber.client.subscribeAsync(`${target.plugId}/data/#`), /Not authorized/);
    for (const perm of [{ of: { r: ['not-a-plug-id'] } }, { ctrl: 'w' }, { owner: 'me' }]) {
      const bad = await server.api('PATCH', `/api/devices/${reader.deviceId}`, { cloudplugs: { perm } });
      assert.equal(bad.status, 400, JSON.stringify(perm));
    }
    const current = await server.iot('GET', `/iot/device/${reader.plugId}`, undefined, {
      'x-plug-id': reader.plugId,
      'x-plug-auth': reader.auth,
    });
    assert.deepEqual((current.body as { perm: unknown }).perm, { of: { r: [], w: [] }, ctrl: 'rw' });
  });

  it('devices of another organization never receive each other’s records on +/data/#', async () => {
    const other = await server.createOrganization();
    const otherTemplate = await server.createTemplate('other-model', other.token);
    const outsider = await server.createThing(otherTemplate, 'OUT-1', other.token);
    const insider = await server.createThing(template);
    const peer = await server.createThing(template);
    const outside = resources.add(await server.connectThing(outsider));
    await outside.client.subscribeAsync('+/data/#');
    const inside = resources.add(await server.connectThing(peer));
    await inside.client.subscribeAsync('+/data/#');
    const device = resources.add(await server.connectThing(insider));
    await device.client.publishAsync(`${insider.plugId}/data/secret`, '{"data": 1}', { qos: 1 });
    await inside.waitForMessages(1);
    const own = resources.add(await server.connectThing(outsider, { clientId: 'OUT-1/second' }));
    await own.client.publishAsync(`${outsider.plugId}/data/mine`, '{"data": 2}', { qos: 1 });
    const messages = await outside.waitForMessages(1);
    assert.deepEqual(
      messages.map((m) => m.topic),
      [`${outsider.plugId}/data/mine`],
    );
  });

  it('an account logs in with its e-mail and master password and reads every device of its organization', async () => {
    const other = await server.createOrganization();
    const otherTemplate = await server.createTemplate('account-model', other.token);
    const thing = await server.createThing(otherTemplate, 'ACC-1', other.token);
    const account = resources.add(
      await connectClient(server.test.mqttUrl, {
        clientId: 'account',
        username: other.email,
        password: other.password,
      }),
    );
    await account.client.subscribeAsync('+/data/#');
    const device = resources.add(await server.connectThing(thing));
    await device.client.publishAsync(`${thing.plugId}/data/a`, '{"data": true}');
    const [message] = await account.waitForMessages(1);
    assert.equal(record(message?.payload ?? '').data, true);
    await assert.rejects(
      connectClient(server.test.mqttUrl, {
        clientId: 'account2',
        username: other.email,
        password: 'wrong-password',
        protocolVersion: 5,
      }),
      (error: Error & { code?: number }) => error.code === 0x86,
    );
  });

  it('a disabled device is refused (0x87; 3.1.1 0x05) and a connected one is closed with 0x98', async () => {
    const thing = await server.createThing(template);
    const connected = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    let reason: number | undefined;
    connected.client.on('disconnect', (packet) => {
      reason = packet.reasonCode;
    });
    const patched = await server.api('PATCH', `/api/devices/${thing.deviceId}`, { cloudplugs: { status: 'disabled' } });
    assert.equal(patched.status, 200);
    await clientClosed(connected.client);
    assert.equal(reason, 0x98);
    await assert.rejects(
      server.connectThing(thing, { protocolVersion: 5, clientId: 'x1' }),
      (e: Error & { code?: number }) => e.code === 0x87,
    );
    await assert.rejects(
      server.connectThing(thing, { protocolVersion: 4, clientId: 'x2' }),
      (e: Error & { code?: number }) => e.code === 5,
    );
    const wrong = server.connectThing({ ...thing, auth: 'wrong' }, { protocolVersion: 4, clientId: 'x3' });
    await assert.rejects(wrong, (e: Error & { code?: number }) => e.code === 4);
  });

  it('properties: set static values and channel links, read them back on the request topic without subscribing', async () => {
    const thing = await server.createThing(template);
    const device = resources.add(await server.connectThing(thing));
    await device.client.publishAsync(`${thing.plugId}/data/fw`, '{"data": "1.2.3"}', { qos: 1 });
    const setTopic = `${thing.plugId}/ag/prop/set`;
    await device.client.publishAsync(setTopic, '{"colour": "red", "firmware": {"channel": "fw"}}');
    const [setReply] = await device.waitForMessages(1, (m) => m.topic === setTopic);
    assert.equal(setReply?.payload, '');
    const getTopic = `${thing.plugId}/ag/prop/get`;
    await device.client.publishAsync(getTopic, '');
    const [all] = await device.waitForMessages(1, (m) => m.topic === getTopic);
    assert.deepEqual(JSON.parse(all?.payload ?? ''), { colour: 'red', firmware: '1.2.3' });
    await device.client.publishAsync(getTopic, '["colour"]');
    const replies = await device.waitForMessages(2, (m) => m.topic === getTopic);
    assert.deepEqual(JSON.parse(replies[1]?.payload ?? ''), { colour: 'red' });
    await device.client.publishAsync(setTopic, '["not", "an", "object"]');
    const failures = await device.waitForMessages(2, (m) => m.topic === setTopic);
    assert.equal((JSON.parse(failures[1]?.payload ?? '') as { err: number }).err, 400);
  });

  it('deleting an organization closes its things’ connections and their Plug-IDs stop working', async () => {
    const org = await server.createOrganization();
    const orgTemplate = await server.createTemplate('doomed-model', org.token);
    const thing = await server.createThing(orgTemplate, 'DOOMED', org.token);
    const connected = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    const deleted = await server.api('DELETE', `/api/organizations/${org.orgId}`);
    assert.equal(deleted.status, 204, deleted.text);
    await clientClosed(connected.client);
    await assert.rejects(
      server.connectThing(thing, { protocolVersion: 5, clientId: 'again' }),
      (e: Error & { code?: number }) => e.code === 0x86,
    );
  });

  it('a last will on a data topic is stored and delivered like a published record', async () => {
    const thing = await server.createThing(template);
    const reader = await server.createThing(template);
    const subscriber = resources.add(await server.connectThing(reader));
    await subscriber.client.subscribeAsync(`${thing.plugId}/data/status`);
    const device = await server.connectThing(thing, {
      will: {
        topic: `${thing.plugId}/data/status`,
        payload: Buffer.from('{"data": "offline"}'),
        qos: 0,
        retain: false,
      },
    });
    device.client.stream.destroy();
    const [message] = await subscriber.waitForMessages(1);
    assert.equal(record(message?.payload ?? '').data, 'offline');
  });
});
