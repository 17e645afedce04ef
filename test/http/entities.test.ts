import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errorCode, startApi, type Api } from './harness.js';

interface DeviceBody {
  id: string;
  name: string;
  profileId: string;
  zoneId: string | null;
  systemId: string | null;
  credentials?: Record<string, unknown>;
}

describe('HTTP API: devices, profiles, zones and systems', () => {
  let api: Api;
  before(async () => {
    api = await startApi();
  });
  after(async () => {
    await api.close();
  });

  test('POST /api/devices answers 201 with an access token; the device can be read, renamed and deleted', async () => {
    const created = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'thermostat-1' } });
    assert.equal(created.status, 201);
    const device = created.json as DeviceBody;
    assert.equal(device.name, 'thermostat-1');
    assert.equal(device.credentials?.['type'], 'ACCESS_TOKEN');
    assert.match(String(device.credentials?.['accessToken']), /^[A-Za-z0-9]{20}$/);
    // The token really is the device's: the store finds the device by it.
    const found = await api.platform.store.findByAccessToken(String(device.credentials?.['accessToken']));
    assert.equal(found?.device.id, device.id);

    const read = await api.request('GET', `/api/devices/${device.id}`, { auth: api.adminToken });
    assert.equal(read.status, 200);
    assert.equal((read.json as DeviceBody).credentials, undefined, 'credentials only on their own route');
    const credentials = await api.request('GET', `/api/devices/${device.id}/credentials`, { auth: api.adminToken });
    assert.deepEqual(credentials.json, device.credentials);

    const renamed = await api.request('PUT', `/api/devices/${device.id}`, {
      auth: api.adminToken,
      body: { name: 'thermostat-one' },
    });
    assert.equal(renamed.status, 200);
    assert.equal((renamed.json as DeviceBody).name, 'thermostat-one');
    const list = await api.request('GET', '/api/devices', { auth: api.adminToken });
    assert.ok((list.json as DeviceBody[]).some((d) => d.name === 'thermostat-one'));

    assert.equal((await api.request('DELETE', `/api/devices/${device.id}`, { auth: api.adminToken })).status, 204);
    assert.equal((await api.request('GET', `/api/devices/${device.id}`, { auth: api.adminToken })).status, 404);
    assert.equal((await api.request('DELETE', `/api/devices/${device.id}`, { auth: api.adminToken })).status, 404);
  });

  test('a device may be created with MQTT basic or X.509 credentials, and its credentials replaced', async () => {
    const basic = await api.request('POST', '/api/devices', {
      auth: api.adminToken,
      body: { name: 'basic-1', credentials: { type: 'MQTT_BASIC', clientId: 'c1', username: 'u1', password: 'p1' } },
    });
    assert.equal(basic.status, 201);
    assert.deepEqual((basic.json as DeviceBody).credentials, {
      type: 'MQTT_BASIC',
      clientId: 'c1',
      username: 'u1',
      password: 'p1',
    });
    const hash = 'ab'.repeat(32);
    const x509 = await api.request('POST', '/api/devices', {
      auth: api.adminToken,
      body: { name: 'x509-1', credentials: { type: 'X509_CERTIFICATE', certificateHash: hash } },
    });
    assert.equal(x509.status, 201);
    assert.equal((await api.platform.store.findByCertificateHash(hash))?.device.name, 'x509-1');

    const id = (basic.json as DeviceBody).id;
    const replaced = await api.request('PUT', `/api/devices/${id}/credentials`, {
      auth: api.adminToken,
      body: { type: 'ACCESS_TOKEN', accessToken: 'my-own-token' },
    });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.json, { type: 'ACCESS_TOKEN', accessToken: 'my-own-token' });
    assert.equal((await api.platform.store.findByAccessToken('my-own-token'))?.device.id, id);

    const invalid = await api.request('PUT', `/api/devices/${id}/credentials`, {
      auth: api.adminToken,
      body: { type: 'MQTT_BASIC', password: 'only-a-password' },
    });
    assert.equal(invalid.status, 400);
  });

  test('a duplicate device name in the organization is 409; a taken access token too', async () => {
    const first = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'dup' } });
    assert.equal(first.status, 201);
    const again = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'dup' } });
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'DUPLICATE');
    const token = String((first.json as DeviceBody).credentials?.['accessToken']);
    const sameToken = await api.request('POST', '/api/devices', {
      auth: api.adminToken,
      body: { name: 'dup-2', credentials: { type: 'ACCESS_TOKEN', accessToken: token } },
    });
    assert.equal(sameToken.status, 409);
  });

  test('malformed JSON, a missing field or a wrong type is 400 with a JSON message, never 500', async () => {
    const malformed = await api.request('POST', '/api/devices', { auth: api.adminToken, rawBody: '{"name": ' });
    assert.equal(malformed.status, 400);
    assert.equal(errorCode(malformed), 'INVALID_JSON');
    assert.equal(typeof (malformed.json as { message: unknown }).message, 'string');
    const missing = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { label: 'x' } });
    assert.equal(missing.status, 400);
    assert.equal(errorCode(missing), 'INVALID_REQUEST');
    const wrongEnum = await api.request('POST', '/api/api-keys', {
      auth: api.adminToken,
      body: { name: 'k', role: 'superuser' },
    });
    assert.equal(wrongEnum.status, 400);
    const badQuery = await api.request('GET', '/api/devices?limit=-3', { auth: api.adminToken });
    assert.equal(badQuery.status, 400);
    const unknownRoute = await api.request('GET', '/api/nothing-here', { auth: api.adminToken });
    assert.equal(unknownRoute.status, 404);
    assert.equal(errorCode(unknownRoute), 'NOT_FOUND');
  });

  test('profiles carry ThingsBoard provisioning settings and protobuf schemas; devices can name them', async () => {
    const created = await api.request('POST', '/api/profiles', {
      auth: api.adminToken,
      body: {
        name: 'sensors',
        payloadType: 'PROTOBUF',
        protoSchemas: { telemetry: 'syntax = "proto3"; message T { double temperature = 1; }' },
        provisioning: { strategy: 'ALLOW_CREATE_NEW_DEVICES', key: 'prov-key-1', secret: 'prov-secret-1' },
      },
    });
    assert.equal(created.status, 201);
    const profile = created.json as { id: string; provisioning: unknown; payloadType: string; isDefault: boolean };
    assert.deepEqual(profile.provisioning, {
      strategy: 'ALLOW_CREATE_NEW_DEVICES',
      key: 'prov-key-1',
      secret: 'prov-secret-1',
    });
    assert.equal(profile.payloadType, 'PROTOBUF');
    assert.equal(profile.isDefault, false);
    assert.equal((await api.platform.store.getProfileByProvisionKey('prov-key-1'))?.id, profile.id);

    const sameKey = await api.request('POST', '/api/profiles', {
      auth: api.adminToken,
      body: {
        name: 'sensors-2',
        provisioning: { strategy: 'ALLOW_CREATE_NEW_DEVICES', key: 'prov-key-1', secret: 's' },
      },
    });
    assert.equal(sameKey.status, 409);
    const badProto = await api.request('POST', '/api/profiles', {
      auth: api.adminToken,
      body: { name: 'broken', payloadType: 'PROTOBUF', protoSchemas: { telemetry: 'message {' } },
    });
    assert.equal(badProto.status, 400);

    const byName = await api.request('POST', '/api/devices', {
      auth: api.adminToken,
      body: { name: 'proto-device', profile: 'sensors' },
    });
    assert.equal((byName.json as DeviceBody).profileId, profile.id);
    const inUse = await api.request('DELETE', `/api/profiles/${profile.id}`, { auth: api.adminToken });
    assert.equal(inUse.status, 409);
    assert.equal(errorCode(inUse), 'IN_USE');
    const noProfile = await api.request('POST', '/api/devices', {
      auth: api.adminToken,
      body: { name: 'ghost-profile', profile: 'no-such-profile' },
    });
    assert.equal(noProfile.status, 404);
  });

  test('zones follow the hierarchy; systems and devices are placed in them', async () => {
    const post = (path: string, body: unknown) => api.request('POST', path, { auth: api.adminToken, body });
    const building = await post('/api/zones', { name: 'HQ', kind: 'building' });
    assert.equal(building.status, 201);
    const buildingId = (building.json as { id: string }).id;
    const level = await post('/api/zones', { name: 'L1', kind: 'level', parentId: buildingId });
    assert.equal(level.status, 201);
    const levelId = (level.json as { id: string }).id;
    const upsideDown = await post('/api/zones', { name: 'B2', kind: 'building', parentId: levelId });
    assert.equal(upsideDown.status, 400);
    const unknownKind = await post('/api/zones', { name: 'X', kind: 'galaxy' });
    assert.equal(unknownKind.status, 400);

    const system = await post('/api/systems', { name: 'Room 101', zoneId: levelId });
    assert.equal(system.status, 201);
    const systemId = (system.json as { id: string }).id;
    const device = await post('/api/devices', { name: 'display-1', zone: levelId, system: systemId });
    assert.equal(device.status, 201);
    assert.equal((device.json as DeviceBody).zoneId, levelId);
    assert.equal((device.json as DeviceBody).systemId, systemId);

    const busy = await api.request('DELETE', `/api/zones/${buildingId}`, { auth: api.adminToken });
    assert.equal(busy.status, 409);
    const zones = await api.request('GET', '/api/zones', { auth: api.adminToken });
    assert.equal((zones.json as unknown[]).length, 2);
    const renamed = await api.request('PUT', `/api/systems/${systemId}`, {
      auth: api.adminToken,
      body: { name: 'Room 102' },
    });
    assert.equal((renamed.json as { name: string }).name, 'Room 102');
    const unplaced = await api.request('PUT', `/api/devices/${(device.json as DeviceBody).id}`, {
      auth: api.adminToken,
      body: { system: null },
    });
    assert.equal((unplaced.json as DeviceBody).systemId, null);
    assert.equal((await api.request('DELETE', `/api/systems/${systemId}`, { auth: api.adminToken })).status, 204);
  });

  test('zones take a PlaceOS tier and parent; a system lists several zones; a profile names its driver id', async () => {
    const post = (path: string, body: unknown) => api.request('POST', path, { auth: api.adminToken, body });
    const org = await post('/api/zones', { name: 'Acme', tier: 'org' });
    assert.equal(org.status, 201);
    const orgZone = org.json as { id: string; tier: string; kind: string };
    assert.equal(orgZone.tier, 'org');
    assert.equal(orgZone.kind, 'org');
    const building = await post('/api/zones', { name: 'Tower', tier: 'building', parent: orgZone.id });
    assert.equal(building.status, 201);
    const buildingZone = building.json as { id: string; parentId: string };
    assert.equal(buildingZone.parentId, orgZone.id);
    assert.equal((await post('/api/zones', { name: 'no tier' })).status, 400);

    const system = await post('/api/systems', { name: 'Board room', zones: [orgZone.id, buildingZone.id] });
    assert.equal(system.status, 201);
    const created = system.json as { id: string; zones: string[]; zoneId: string | null };
    assert.deepEqual(created.zones, [orgZone.id, buildingZone.id]);
    assert.equal(created.zoneId, orgZone.id);
    const missingZone = await post('/api/systems', { name: 'Ghost', zones: ['no-such-zone'] });
    assert.equal(missingZone.status, 404);
    const moved = await api.request('PUT', `/api/systems/${created.id}`, {
      auth: api.adminToken,
      body: { zones: [buildingZone.id] },
    });
    assert.deepEqual((moved.json as { zones: string[] }).zones, [buildingZone.id]);
    // A zone a system is in cannot be deleted from under it.
    assert.equal((await api.request('DELETE', `/api/zones/${buildingZone.id}`, { auth: api.adminToken })).status, 409);

    const driver = await post('/api/profiles', { name: 'Display', driverId: 'dep-123' });
    assert.equal(driver.status, 201);
    assert.equal((driver.json as { driverId: string }).driverId, 'dep-123');
    const plain = await post('/api/profiles', { name: 'Sensor' });
    assert.equal((plain.json as { driverId: string | null }).driverId, null);
  });

  test('organizations get a generated MQTT id or the one given; users an e-mail and an MQTT id, all unique', async () => {
    const post = (path: string, body: unknown) => api.request('POST', path, { auth: api.adminToken, body });
    const generated = await post('/api/organizations', { name: 'Generated' });
    assert.equal(generated.status, 201);
    assert.match((generated.json as { mqttId: string }).mqttId, /^[A-Za-z0-9]{12}$/);
    const chosen = await post('/api/organizations', { name: 'Chosen', mqttId: 'project42' });
    assert.equal((chosen.json as { mqttId: string }).mqttId, 'project42');
    const taken = await post('/api/organizations', { name: 'Again', mqttId: 'project42' });
    assert.equal(taken.status, 409);
    assert.equal(errorCode(taken), 'DUPLICATE');
    assert.equal((await post('/api/organizations', { name: 'Bad', mqttId: 'a/b' })).status, 400);
    assert.equal((await post('/api/organizations', { name: 'Reserved', mqttId: '_all' })).status, 400);

    const user = await post('/api/users', {
      username: 'ann',
      password: 'ann-password',
      role: 'viewer',
      email: 'Ann@Example.com',
      mqttId: 'ann01',
    });
    assert.equal(user.status, 201);
    const body = user.json as { email: string; mqttId: string };
    assert.equal(body.email, 'ann@example.com', 'stored lower-cased');
    assert.equal(body.mqttId, 'ann01');
    const sameEmail = await post('/api/users', {
      username: 'ann2',
      password: 'ann-password',
      role: 'viewer',
      email: 'ANN@example.com',
    });
    assert.equal(sameEmail.status, 409);
    const badEmail = await post('/api/users', { username: 'x', password: 'x-password', role: 'viewer', email: 'nope' });
    assert.equal(badEmail.status, 400);
  });
});
