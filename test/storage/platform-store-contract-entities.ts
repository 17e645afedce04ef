/** Platform store contract, part 1: organizations, the spatial model, profiles, devices, credentials, users, keys. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuplicateError } from '../../src/storage/index.js';
import type { WithStore } from './platform-store-contract.js';
import {
  apiKey,
  createdAt,
  device,
  organization,
  profile,
  seedOrganization,
  user,
  withoutCredentials,
} from './platform-store-fixtures.js';

/** Asserts that `promise` rejects with a DuplicateError about `what`. */
async function rejectsDuplicate(promise: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DuplicateError, `expected a DuplicateError, got ${String(error)}`);
    assert.equal(error.code, 'DUPLICATE');
    assert.equal(error.what, what);
    return true;
  });
}

export function registerEntityTests(withStore: WithStore): void {
  test('organizations are created, read, listed, updated and deleted', () =>
    withStore(async (store) => {
      const a = organization('a', { name: 'Acme', retentionDays: 30 });
      const b = organization('b', { name: 'Bolt' });
      await store.createOrganization(b);
      await store.createOrganization(a);
      assert.deepEqual(await store.getOrganization('a'), a);
      assert.equal(await store.getOrganization('missing'), undefined);
      assert.deepEqual(await store.listOrganizations(), [a, b]);
      assert.equal(await store.updateOrganization('a', { name: 'Acme 2', retentionDays: null }), true);
      assert.deepEqual(await store.getOrganization('a'), { ...a, name: 'Acme 2', retentionDays: null });
      assert.equal(await store.updateOrganization('missing', { name: 'x' }), false);
      assert.equal(await store.deleteOrganization('a'), true);
      assert.equal(await store.deleteOrganization('a'), false);
      assert.deepEqual(await store.listOrganizations(), [b]);
      await rejectsDuplicate(store.createOrganization({ ...b, mqttId: 'fresh' }), 'organization id');
    }));

  test('organization MQTT ids are unique and find their organization', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a', { mqttId: 'projectA' }));
      assert.equal((await store.getOrganizationByMqttId('projectA'))?.id, 'a');
      assert.equal(await store.getOrganizationByMqttId('projecta'), undefined);
      await rejectsDuplicate(
        store.createOrganization(organization('b', { mqttId: 'projectA' })),
        'organization mqttId',
      );
      await store.createOrganization(organization('b', { mqttId: 'projectB' }));
      await rejectsDuplicate(store.updateOrganization('b', { mqttId: 'projectA' }), 'organization mqttId');
      assert.equal(await store.updateOrganization('b', { mqttId: 'projectC' }), true);
      assert.equal((await store.getOrganizationByMqttId('projectC'))?.id, 'b');
    }));

  test('zones and systems are kept per organization; deleting a zone unplaces what was in it', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', []);
      await store.createOrganization(organization('other'));
      const building = { id: 'z1', orgId: 'org', name: 'HQ', kind: 'building', parentId: null, createdAt };
      const level = { id: 'z2', orgId: 'org', name: 'L1', kind: 'level', parentId: 'z1', createdAt };
      await store.createZone(building);
      await store.createZone(level);
      await store.createZone({ ...building, id: 'z3', orgId: 'other' });
      assert.deepEqual(await store.getZone('z2'), level);
      assert.deepEqual(await store.listZones('org'), [building, level]);
      assert.equal(await store.updateZone('z2', { name: 'Level 1', kind: 'area' }), true);
      assert.deepEqual(await store.getZone('z2'), { ...level, name: 'Level 1', kind: 'area' });

      const system = { id: 's1', orgId: 'org', name: 'Room 101', zoneIds: ['z1', 'z2'], createdAt };
      await store.createSystem(system);
      assert.deepEqual(await store.listSystems('org'), [system]);
      assert.deepEqual(await store.listSystems('other'), []);
      assert.equal(await store.updateSystem('s1', { name: 'Room 102' }), true);
      await store.createDevice(device('d1', 'org', { zoneId: 'z2', systemId: 's1', index: 2 }));

      assert.equal(await store.deleteZone('z2'), true);
      assert.equal(await store.getZone('z2'), undefined);
      assert.deepEqual(await store.getSystem('s1'), { ...system, name: 'Room 102', zoneIds: ['z1'] });
      assert.equal((await store.getDevice('d1'))?.zoneId, null);
      assert.equal(await store.deleteSystem('s1'), true);
      assert.equal(await store.deleteSystem('s1'), false);
      assert.equal((await store.getDevice('d1'))?.systemId, null);
      assert.equal(await store.deleteZone('z2'), false);
    }));

  test('profiles round-trip with proto schemas and provisioning, and are found by name and provision key', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('org'));
      await store.createOrganization(organization('other'));
      const protobuf = profile('p1', 'org', {
        name: 'thermostat',
        payloadType: 'PROTOBUF',
        protoSchemas: { telemetry: 'syntax = "proto3"; message T { double t = 1; }' },
        provisioning: { strategy: 'ALLOW_CREATE_NEW_DEVICES', key: 'pk1', secret: 'ps1' },
        sendAckOnValidationFailure: true,
        isDefault: true,
      });
      await store.createProfile(protobuf);
      assert.deepEqual(await store.getProfile('p1'), protobuf);
      assert.deepEqual(await store.getProfileByName('org', 'thermostat'), protobuf);
      assert.equal(await store.getProfileByName('other', 'thermostat'), undefined);
      assert.deepEqual(await store.getProfileByProvisionKey('pk1'), protobuf);

      // The same name in another organization is fine; the same name in one organization is not.
      await store.createProfile(profile('p2', 'other', { name: 'thermostat' }));
      await rejectsDuplicate(store.createProfile(profile('p3', 'org', { name: 'thermostat' })), 'profile name');
      const taken = { strategy: 'CHECK_PRE_PROVISIONED_DEVICES', key: 'pk1', secret: 'x' } as const;
      await rejectsDuplicate(store.createProfile(profile('p4', 'other', { provisioning: taken })), 'provision key');

      const provisioning = {
        strategy: 'X509_CERTIFICATE_CHAIN',
        key: 'pk2',
        secret: 's',
        certificateRegex: '^(.*)$',
      } as const;
      assert.equal(await store.updateProfile('p1', { provisioning, isDefault: false }), true);
      assert.equal(await store.getProfileByProvisionKey('pk1'), undefined);
      assert.deepEqual(await store.getProfileByProvisionKey('pk2'), { ...protobuf, provisioning, isDefault: false });
      assert.equal(await store.updateProfile('p1', { provisioning: null }), true);
      assert.equal(await store.getProfileByProvisionKey('pk2'), undefined);
      assert.deepEqual(
        (await store.listProfiles('org')).map((p) => p.id),
        ['p1'],
      );
      assert.equal(await store.deleteProfile('p1'), true);
      assert.equal(await store.getProfile('p1'), undefined);
    }));

  test('devices are created, found by name, listed in name order with paging and by gateway, and updated', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', []);
      const gateway = device('gw', 'org', { name: 'gateway', isGateway: true });
      const child = device('c1', 'org', { name: 'child', gatewayId: 'gw', zoneId: null, index: 0 });
      const plain = device('p1', 'org', { name: 'alpha' });
      for (const d of [gateway, child, plain]) await store.createDevice(d);
      assert.deepEqual(await store.getDevice('c1'), withoutCredentials(child));
      assert.deepEqual(await store.getDeviceByName('org', 'gateway'), withoutCredentials(gateway));
      assert.equal(await store.getDevice('missing'), undefined);
      const names = async (options?: { limit?: number; offset?: number; gatewayId?: string }): Promise<string[]> =>
        (await store.listDevices('org', options)).map((d) => d.name);
      assert.deepEqual(await names(), ['alpha', 'child', 'gateway']);
      assert.deepEqual(await names({ limit: 2 }), ['alpha', 'child']);
      assert.deepEqual(await names({ limit: 2, offset: 2 }), ['gateway']);
      assert.deepEqual(await names({ gatewayId: 'gw' }), ['child']);

      assert.equal(await store.updateDevice('p1', { name: 'beta', index: 4, isGateway: true }), true);
      assert.deepEqual(await store.getDevice('p1'), {
        ...withoutCredentials(plain),
        name: 'beta',
        index: 4,
        isGateway: true,
      });
      assert.equal(await store.updateDevice('missing', { name: 'x' }), false);
      await rejectsDuplicate(store.updateDevice('p1', { name: 'child' }), 'device name');
    }));

  test('a device name is unique per organization; a taken name or credentials create nothing', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['d1']);
      await seedOrganization(store, 'b', []);
      await store.createDevice(device('d2', 'b', { name: 'device d1' }));
      assert.deepEqual(
        (await store.findDevicesByName('device d1')).map((d) => d.id),
        ['d1', 'd2'],
      );
      await rejectsDuplicate(store.createDevice(device('d3', 'a', { name: 'device d1' })), 'device name');
      const tokenTaken = device('d4', 'a', { credentials: { type: 'ACCESS_TOKEN', accessToken: 'token-d1' } });
      await rejectsDuplicate(store.createDevice(tokenTaken), 'credentials');
      assert.equal(await store.getDevice('d3'), undefined);
      assert.equal(await store.getDevice('d4'), undefined);
      await rejectsDuplicate(store.createDevice(device('d1', 'b', { name: 'other' })), 'device id');
    }));

  test('claiming moves a device to another organization, refused when the name is taken there', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['d1', 'd2']);
      await seedOrganization(store, 'b', []);
      await store.createDevice(device('b2', 'b', { name: 'device d2' }));
      assert.equal(await store.updateDevice('d1', { orgId: 'b', profileId: 'profile-b' }), true);
      assert.equal((await store.getDeviceByName('b', 'device d1'))?.id, 'd1');
      assert.equal(await store.getDeviceByName('a', 'device d1'), undefined);
      await rejectsDuplicate(store.updateDevice('d2', { orgId: 'b' }), 'device name');
      assert.equal((await store.getDevice('d2'))?.orgId, 'a');
    }));

  test('devices are found by access token, by each form of MQTT basic credentials and by certificate hash', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['token']);
      const basic = (clientId: string | null, username: string | null) =>
        ({ type: 'MQTT_BASIC', clientId, username, password: 'secret' }) as const;
      await store.createDevice(device('client', 'org', { credentials: basic('c1', null) }));
      await store.createDevice(device('user', 'org', { credentials: basic(null, 'u1') }));
      await store.createDevice(device('both', 'org', { credentials: basic('c1', 'u1') }));
      const cert = { type: 'X509_CERTIFICATE', certificateHash: 'ab'.repeat(32) } as const;
      await store.createDevice(device('cert', 'org', { credentials: cert }));

      const token = await store.findByAccessToken('token-token');
      assert.equal(token?.device.id, 'token');
      assert.deepEqual(token.credentials, { type: 'ACCESS_TOKEN', accessToken: 'token-token' });
      assert.equal(await store.findByAccessToken('nope'), undefined);
      assert.deepEqual(await store.findByBasicCredentials('c1', null), {
        device: withoutCredentials(device('client', 'org', { credentials: basic('c1', null) })),
        credentials: basic('c1', null),
      });
      assert.equal((await store.findByBasicCredentials(null, 'u1'))?.device.id, 'user');
      assert.equal((await store.findByBasicCredentials('c1', 'u1'))?.device.id, 'both');
      assert.equal(await store.findByBasicCredentials('c1', 'u2'), undefined);
      assert.equal(await store.findByBasicCredentials('u1', null), undefined);
      assert.equal(await store.findByBasicCredentials(null, null), undefined);
      assert.equal((await store.findByCertificateHash('ab'.repeat(32)))?.device.id, 'cert');
      assert.equal(await store.findByCertificateHash('cd'.repeat(32)), undefined);
      // An access token is not a client id.
      assert.equal(await store.findByBasicCredentials('token-token', null), undefined);
    }));

  test('setCredentials replaces the old credentials and refuses ones another device holds', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      const replacement = { type: 'X509_CERTIFICATE', certificateHash: 'ff' } as const;
      await store.setCredentials('d1', replacement);
      assert.deepEqual(await store.getCredentials('d1'), replacement);
      assert.equal(await store.findByAccessToken('token-d1'), undefined);
      assert.equal((await store.findByCertificateHash('ff'))?.device.id, 'd1');
      await rejectsDuplicate(store.setCredentials('d2', replacement), 'credentials');
      assert.deepEqual(await store.getCredentials('d2'), { type: 'ACCESS_TOKEN', accessToken: 'token-d2' });
      assert.equal(await store.getCredentials('missing'), undefined);
      await assert.rejects(store.setCredentials('missing', { type: 'ACCESS_TOKEN', accessToken: 'x' }));
    }));

  test('usernames are unique across organizations; users are read, listed, updated, counted and deleted', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      await store.createOrganization(organization('b'));
      assert.equal(await store.countUsers(), 0);
      const admin = user('u1', 'a', { username: 'zed', role: 'admin' });
      const viewer = user('u2', 'a', { username: 'amy', role: 'viewer' });
      await store.createUser(admin);
      await store.createUser(viewer);
      await rejectsDuplicate(store.createUser(user('u3', 'b', { username: 'zed' })), 'username');
      assert.deepEqual(await store.getUser('u1'), admin);
      assert.deepEqual(await store.getUserByUsername('amy'), viewer);
      assert.deepEqual(await store.listUsers('a'), [viewer, admin]);
      assert.deepEqual(await store.listUsers('b'), []);
      assert.equal(await store.countUsers(), 2);
      assert.equal(await store.updateUser('u2', { role: 'operator', passwordHash: 'new' }), true);
      assert.deepEqual(await store.getUser('u2'), { ...viewer, role: 'operator', passwordHash: 'new' });
      assert.equal(await store.updateUser('missing', { role: 'admin' }), false);
      assert.equal(await store.deleteUser('u2'), true);
      assert.equal(await store.deleteUser('u2'), false);
      assert.equal(await store.countUsers(), 1);
    }));

  test('user e-mails and MQTT ids are unique across the server and find their user', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      await store.createOrganization(organization('b'));
      const ann = user('u1', 'a', { email: 'ann@example.com', mqttId: 'ann' });
      await store.createUser(ann);
      await store.createUser(user('u2', 'a'));
      assert.deepEqual(await store.getUserByEmail('ann@example.com'), ann);
      assert.deepEqual(await store.getUserByMqttId('ann'), ann);
      assert.equal(await store.getUserByEmail('bob@example.com'), undefined);
      await rejectsDuplicate(store.createUser(user('u3', 'b', { email: 'ann@example.com' })), 'email');
      await rejectsDuplicate(store.createUser(user('u4', 'b', { mqttId: 'ann' })), 'user mqttId');
      // Users without an e-mail do not collide with each other.
      await store.createUser(user('u5', 'b'));
      assert.equal(await store.updateUser('u2', { email: 'two@example.com', mqttId: 'two' }), true);
      assert.equal((await store.getUserByEmail('two@example.com'))?.id, 'u2');
      await rejectsDuplicate(store.updateUser('u5', { email: 'two@example.com' }), 'email');
    }));

  test('API keys are found by hash, listed per organization and deleted', () =>
    withStore(async (store) => {
      await store.createOrganization(organization('a'));
      const first = apiKey('k1', 'a');
      const second = apiKey('k2', 'a', { role: 'admin', createdAt: createdAt + 1 });
      await store.createApiKey(first);
      await store.createApiKey(second);
      await rejectsDuplicate(store.createApiKey(apiKey('k3', 'a', { keyHash: 'hash-k1' })), 'api key');
      assert.deepEqual(await store.getApiKeyByHash('hash-k2'), second);
      assert.equal(await store.getApiKeyByHash('nope'), undefined);
      assert.deepEqual(await store.listApiKeys('a'), [first, second]);
      assert.equal(await store.deleteApiKey('k1'), true);
      assert.equal(await store.deleteApiKey('k1'), false);
      assert.deepEqual(await store.listApiKeys('a'), [second]);
    }));

  test('deleting an organization deletes everything in it and nothing of another', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['a1']);
      await seedOrganization(store, 'b', ['b1']);
      await store.createZone({ id: 'za', orgId: 'a', name: 'HQ', kind: 'building', parentId: null, createdAt });
      await store.createSystem({ id: 'sa', orgId: 'a', name: 'S', zoneIds: ['za'], createdAt });
      await store.createUser(user('ua', 'a'));
      await store.createApiKey(apiKey('ka', 'a'));
      await store.createUser(user('ub', 'b'));
      for (const id of ['a1', 'b1']) {
        await store.write({
          telemetry: [{ deviceId: id, points: [{ key: 't', ts: 1, value: 1 }] }],
          attributes: [{ deviceId: id, scope: 'server', key: 'k', value: 'v', ts: 1 }],
          attributeDeletes: [],
          events: [
            { id: `e-${id}`, orgId: id[0]!, deviceId: id, stream: 's', at: 1, atText: null, data: 1, expiresAt: null },
          ],
        });
      }

      assert.equal(await store.deleteOrganization('a'), true);
      assert.equal(await store.getDevice('a1'), undefined);
      assert.equal(await store.findByAccessToken('token-a1'), undefined);
      assert.equal(await store.getZone('za'), undefined);
      assert.equal(await store.getSystem('sa'), undefined);
      assert.equal(await store.getProfile('profile-a'), undefined);
      assert.equal(await store.getUser('ua'), undefined);
      assert.equal(await store.getApiKeyByHash('hash-ka'), undefined);
      assert.deepEqual(await store.latestTelemetry('a1'), []);
      assert.deepEqual(await store.queryEvents({ deviceIds: ['a1'], limit: 10, order: 'ASC' }), []);

      assert.equal((await store.getDevice('b1'))?.id, 'b1');
      assert.equal((await store.getUser('ub'))?.id, 'ub');
      assert.equal((await store.latestTelemetry('b1')).length, 1);
      assert.equal((await store.getAttributes('b1', 'server')).length, 1);
      assert.equal((await store.queryEvents({ deviceIds: ['b1'], limit: 10, order: 'ASC' })).length, 1);
    }));
}
