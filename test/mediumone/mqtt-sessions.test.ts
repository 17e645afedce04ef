/**
 * Medium One sessions as the samples use them and the broker features a Medium One device keeps: the recommended
 * client id `<project>/<user>` with the samples' 300 s keepalive, QoS 2 events, a will on the device's own event topic,
 * and what happens to connected devices and REST sessions when their user is deleted.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { IDisconnectPacket } from 'mqtt';
import { clientClosed, connectClient, Resources, withTimeout, WAIT_MS } from '../helpers/index.js';
import { connectDeviceUser, eventually, publishForPuback, subackCodes } from './clients.js';
import { startM1, type M1Fixture } from './harness.js';

let fixture: M1Fixture;
const resources = new Resources();

beforeEach(async () => {
  fixture = resources.add(await startM1());
});
afterEach(() => resources.closeAll());

async function eventsOf(deviceName: string): Promise<unknown[]> {
  const device = await fixture.platform.store.getDeviceByName(fixture.project.orgId, deviceName);
  if (device === undefined) return [];
  const events = await fixture.platform.store.queryEvents({ deviceIds: [device.id], limit: 100, order: 'ASC' });
  return events.map((event) => event.data);
}

test('the recommended client id <project>/<user> and the samples’ 300 s keepalive are accepted', async () => {
  const { project, user } = fixture;
  const username = project.usernameOf(user);
  assert.ok(username.length <= 32);
  const client = resources.add(
    await connectClient(fixture.server.mqttUrl, {
      protocolVersion: 4,
      clientId: username,
      username,
      password: project.passwordOf(user),
      keepalive: 300,
    }),
  );
  const topic = `0/${project.mqttId}/${user.mqttId}/heartbeat`;
  assert.equal((await publishForPuback(client.client, topic, '{"event_data":{"beat":1}}')).reasonCode, 0);
  assert.deepEqual(await eventsOf('heartbeat'), [{ beat: 1, device_id: 'heartbeat' }]);
});

test('a QoS 2 event is stored exactly once and completed with PUBCOMP after the commit', async () => {
  const { client } = resources.add(await connectDeviceUser(fixture, 5));
  const topic = `0/${fixture.project.mqttId}/${fixture.user.mqttId}/q2`;
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.publish(topic, '{"event_data":{"n":2}}', { qos: 2 }, (error) => {
        if (error === undefined || error === null) resolve();
        else reject(error);
      });
    }),
    WAIT_MS,
    'PUBCOMP',
  );
  assert.deepEqual(await eventsOf('q2'), [{ n: 2, device_id: 'q2' }]);
});

test('a will on the device’s own event topic is stored as an event when the connection is lost', async () => {
  const topic = `0/${fixture.project.mqttId}/${fixture.user.mqttId}/lamp`;
  const device = resources.add(
    await connectDeviceUser(fixture, 5, {
      extra: { will: { topic, payload: Buffer.from('{"event_data":{"online":false}}'), qos: 1, retain: false } },
    }),
  );
  // Not a DISCONNECT: the socket goes away, so the broker publishes the will ([MQTT-3.1.2-8]).
  device.client.stream.destroy();
  await eventually(async () => (await eventsOf('lamp')).length === 1, 'the will to be stored');
  assert.deepEqual(await eventsOf('lamp'), [{ online: false, device_id: 'lamp' }]);
});

test('deleting a user disconnects its devices with 0x98 and ends its REST sessions', async () => {
  const { project } = fixture;
  const doomed = await project.createUser('doomed');
  const device = resources.add(await connectDeviceUser(fixture, 5, { user: doomed }));
  const login = await fixture.api('POST', '/v2/login', {
    body: { login_id: doomed.username, password: doomed.password, api_key: project.apiKey, no_cookies: true },
  });
  const token = (login.json as { token: string }).token;
  assert.equal((await fixture.api('GET', `/v2/events/raw/${doomed.username}`, { token })).status, 200);

  const disconnect = withTimeout(
    new Promise<IDisconnectPacket>((resolve) => device.client.once('disconnect', resolve)),
    WAIT_MS,
    'DISCONNECT',
  );
  assert.equal((await fixture.api('DELETE', `/api/users/${doomed.id}`, { token: project.adminToken })).status, 204);
  assert.equal((await disconnect).reasonCode, 0x98);
  await clientClosed(device.client);
  assert.equal((await fixture.api('GET', `/v2/events/raw/${doomed.username}`, { token })).status, 401);
  // And it cannot come back.
  await assert.rejects(connectDeviceUser(fixture, 5, { user: doomed }), { code: 0x86 });
});

test('a remembered login is checked again after a password change or the deletion of its API key', async () => {
  const { project, user } = fixture;
  // Logged in once: the login is remembered.
  resources.add(await connectDeviceUser(fixture, 5));
  const changed = await fixture.api('PUT', `/api/users/${user.id}`, {
    token: project.adminToken,
    body: { password: 'a-new-password-1' },
  });
  assert.equal(changed.status, 200, changed.text);
  await assert.rejects(connectDeviceUser(fixture, 5), { code: 0x86 });
  const renewed = { ...user, password: 'a-new-password-1' };
  resources.add(await connectDeviceUser(fixture, 5, { user: renewed }));

  const keys = await fixture.api('GET', '/api/api-keys', { token: project.adminToken });
  const keyId = (keys.json as { id: string; prefix: string }[]).find((key) =>
    project.apiKey.startsWith(key.prefix),
  )?.id;
  assert.ok(keyId !== undefined);
  assert.equal((await fixture.api('DELETE', `/api/api-keys/${keyId}`, { token: project.adminToken })).status, 204);
  await assert.rejects(connectDeviceUser(fixture, 5, { user: renewed }), { code: 0x86 });
});

test('a REST upload of 3 000 events is stored whole, in slices, and queried back in order', async () => {
  const { project, user } = fixture;
  const login = await fixture.api('POST', '/v2/login', {
    body: { login_id: user.username, password: user.password, api_key: project.apiKey, no_cookies: true },
  });
  const token = (login.json as { token: string }).token;
  const base = Date.UTC(2021, 0, 1);
  const lines = Array.from(
    { length: 3_000 },
    (_, i) =>
      `{"event_data":{"i":${i},"device_id":"meter-${i % 7}"},"observed_at":"${new Date(base + i * 1000).toISOString()}"}`,
  );
  const uploaded = await fixture.api('POST', `/v2/events/raw/${user.username}`, { token, raw: lines.join('\n') });
  assert.equal(uploaded.status, 200, uploaded.text);
  assert.equal(uploaded.json, 3_000);
  const queried = await fixture.api('GET', `/v2/events/raw/${user.username}?limit=10000`, { token });
  const events = queried.json as { event_data: { i: number } }[];
  assert.equal(events.length, 3_000);
  assert.ok(events.every((event, i) => event.event_data.i === i));
});

test('a device deleted through the management API is created again by its next event', async () => {
  const { client } = resources.add(await connectDeviceUser(fixture, 5));
  const topic = `0/${fixture.project.mqttId}/${fixture.user.mqttId}/phoenix`;
  assert.equal((await publishForPuback(client, topic, '{"event_data":{"life":1}}')).reasonCode, 0);
  const first = await fixture.platform.store.getDeviceByName(fixture.project.orgId, 'phoenix');
  assert.ok(first !== undefined);
  const deleted = await fixture.api('DELETE', `/api/devices/${first.id}`, { token: fixture.project.adminToken });
  assert.equal(deleted.status, 204);
  assert.equal((await publishForPuback(client, topic, '{"event_data":{"life":2}}')).reasonCode, 0);
  const second = await fixture.platform.store.getDeviceByName(fixture.project.orgId, 'phoenix');
  assert.ok(second !== undefined && second.id !== first.id);
  assert.deepEqual(await eventsOf('phoenix'), [{ life: 2, device_id: 'phoenix' }]);
});

test('a new project id takes effect at once: devices on the old one are disconnected (0x98) and must log in with the new one', async () => {
  const { project, user } = fixture;
  const device = resources.add(await connectDeviceUser(fixture, 5));
  const disconnect = withTimeout(
    new Promise<IDisconnectPacket>((resolve) => device.client.once('disconnect', resolve)),
    WAIT_MS,
    'DISCONNECT',
  );
  const renamed = await fixture.api('PUT', `/api/organizations/${project.orgId}`, {
    token: project.adminToken,
    body: { mqttId: 'kitchen-project' },
  });
  assert.equal(renamed.status, 200, renamed.text);
  assert.equal((await disconnect).reasonCode, 0x98);
  await assert.rejects(connectDeviceUser(fixture, 5), { code: 0x86 });
  const moved = { ...project, mqttId: 'kitchen-project', usernameOf: () => `kitchen-project/${user.mqttId}` };
  const again = resources.add(await connectDeviceUser(fixture, 5, { project: moved }));
  assert.deepEqual(await subackCodes(again.client, ['2/kitchen-project/#', `2/${project.mqttId}/#`]), [1, 0x87]);
  const topic = `0/kitchen-project/${user.mqttId}/toaster`;
  assert.equal((await publishForPuback(again.client, topic, '{"event_data":{"on":true}}')).reasonCode, 0);
});
