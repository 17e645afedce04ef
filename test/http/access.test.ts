import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errorCode, startApi, ADMIN_PASSWORD, type Api } from './harness.js';

describe('HTTP API: authentication and access', () => {
  let api: Api;
  before(async () => {
    api = await startApi();
  });
  after(async () => {
    await api.close();
  });

  test('login with the right password answers a JWT that authenticates later calls', async () => {
    const token = await api.login('admin', ADMIN_PASSWORD);
    assert.equal(token.split('.').length, 3);
    const me = await api.request('GET', '/api/auth/me', { auth: token });
    assert.equal(me.status, 200);
    assert.deepEqual(me.json, {
      kind: 'user',
      id: (me.json as { id: string }).id,
      orgId: api.orgId,
      role: 'admin',
      isServerAdmin: true,
    });
  });

  test('login with a wrong password or an unknown user is 401 with a JSON error', async () => {
    for (const body of [
      { username: 'admin', password: 'wrong' },
      { username: 'nobody', password: ADMIN_PASSWORD },
    ]) {
      const response = await api.request('POST', '/api/auth/login', { body });
      assert.equal(response.status, 401);
      assert.equal(errorCode(response), 'UNAUTHORIZED');
    }
  });

  test('a call without credentials, or with a forged token, is 401', async () => {
    const none = await api.request('GET', '/api/devices');
    assert.equal(none.status, 401);
    assert.equal(errorCode(none), 'UNAUTHORIZED');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const [header, payload] = api.adminToken.split('.');
    const forged = await api.request('GET', '/api/devices', { auth: `${header!}.${payload!}.AAAA` });
    assert.equal(forged.status, 401);
    const badKey = await api.request('GET', '/api/devices', { auth: { apiKey: 'sbk_' + 'x'.repeat(32) } });
    assert.equal(badKey.status, 401);
  });

  test('an API key sent as X-API-Key works like a JWT, with the role it was given', async () => {
    const created = await api.request('POST', '/api/api-keys', {
      auth: api.adminToken,
      body: { name: 'reader', role: 'viewer' },
    });
    assert.equal(created.status, 201);
    const { key, prefix } = created.json as { key: string; prefix: string };
    assert.match(key, /^sbk_[A-Za-z0-9]{32}$/);
    assert.ok(key.startsWith(prefix));
    const list = await api.request('GET', '/api/devices', { auth: { apiKey: key } });
    assert.equal(list.status, 200);
    const write = await api.request('POST', '/api/devices', { auth: { apiKey: key }, body: { name: 'by-key' } });
    assert.equal(write.status, 403);
    // The key is never shown again.
    const keys = await api.request('GET', '/api/api-keys', { auth: api.adminToken });
    assert.ok(!JSON.stringify(keys.json).includes(key));
    // A deleted key stops working at once.
    const { id } = created.json as { id: string };
    assert.equal((await api.request('DELETE', `/api/api-keys/${id}`, { auth: api.adminToken })).status, 204);
    assert.equal((await api.request('GET', '/api/devices', { auth: { apiKey: key } })).status, 401);
  });

  test('a viewer can read but every kind of write is 403', async () => {
    const viewer = await api.userToken('viewer');
    const device = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'viewer-target' } });
    const deviceId = (device.json as { id: string }).id;
    assert.equal((await api.request('GET', `/api/devices/${deviceId}`, { auth: viewer })).status, 200);
    const writes: [string, string, unknown][] = [
      ['POST', '/api/organizations', { name: 'x' }],
      ['PUT', `/api/organizations/${api.orgId}`, { name: 'x' }],
      ['POST', '/api/zones', { name: 'b', kind: 'building' }],
      ['POST', '/api/systems', { name: 's' }],
      ['POST', '/api/profiles', { name: 'p' }],
      ['POST', '/api/devices', { name: 'd' }],
      ['PUT', `/api/devices/${deviceId}`, { name: 'renamed' }],
      ['DELETE', `/api/devices/${deviceId}`, undefined],
      ['PUT', `/api/devices/${deviceId}/credentials`, { type: 'ACCESS_TOKEN' }],
      ['POST', `/api/devices/${deviceId}/attributes/shared`, { a: 1 }],
      ['DELETE', `/api/devices/${deviceId}/attributes/shared?keys=a`, undefined],
      ['POST', `/api/devices/${deviceId}/rpc`, { method: 'reboot', params: {} }],
      ['POST', '/api/users', { username: 'u', password: 'password-123', role: 'viewer' }],
      ['POST', '/api/api-keys', { name: 'k', role: 'viewer' }],
      ['GET', '/api/users', undefined],
    ];
    for (const [method, path, body] of writes) {
      const response = await api.request(method, path, { auth: viewer, body });
      assert.equal(response.status, 403, `${method} ${path} answered ${String(response.status)}`);
      assert.equal(errorCode(response), 'FORBIDDEN');
    }
    // Nothing was changed.
    const still = await api.request('GET', `/api/devices/${deviceId}`, { auth: api.adminToken });
    assert.equal((still.json as { name: string }).name, 'viewer-target');
  });

  test('an operator writes devices but cannot manage users or API keys', async () => {
    const operator = await api.userToken('operator');
    const created = await api.request('POST', '/api/devices', { auth: operator, body: { name: 'operator-device' } });
    assert.equal(created.status, 201);
    const user = await api.request('POST', '/api/users', {
      auth: operator,
      body: { username: 'op-made', password: 'password-123', role: 'admin' },
    });
    assert.equal(user.status, 403);
  });

  test('one organization cannot see, change or stream another organization’s devices (404)', async () => {
    const other = await api.request('POST', '/api/organizations', {
      auth: api.adminToken,
      body: { name: 'other', admin: { username: 'other-admin', password: 'password-123' } },
    });
    assert.equal(other.status, 201);
    const otherToken = await api.login('other-admin', 'password-123');
    const mine = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'secret-device' } });
    const id = (mine.json as { id: string }).id;

    const list = await api.request('GET', '/api/devices', { auth: otherToken });
    assert.deepEqual(list.json, []);
    for (const [method, path, body] of [
      ['GET', `/api/devices/${id}`, undefined],
      ['PUT', `/api/devices/${id}`, { name: 'stolen' }],
      ['DELETE', `/api/devices/${id}`, undefined],
      ['GET', `/api/devices/${id}/credentials`, undefined],
      ['GET', `/api/devices/${id}/telemetry/latest`, undefined],
      ['GET', `/api/devices/${id}/attributes/server`, undefined],
      ['POST', `/api/devices/${id}/attributes/server`, { a: 1 }],
      ['POST', `/api/devices/${id}/rpc`, { method: 'm' }],
      ['GET', `/api/devices/${id}/stream`, undefined],
      ['GET', `/api/organizations/${api.orgId}`, undefined],
    ] as const) {
      const response = await api.request(method, path, { auth: otherToken, body });
      assert.equal(response.status, 404, `${method} ${path} answered ${String(response.status)}`);
      assert.equal(errorCode(response), 'NOT_FOUND');
    }
    // The other admin sees only its own organization; the server admin sees both.
    const otherOrgs = await api.request('GET', '/api/organizations', { auth: otherToken });
    assert.equal((otherOrgs.json as unknown[]).length, 1);
    const allOrgs = await api.request('GET', '/api/organizations', { auth: api.adminToken });
    assert.equal((allOrgs.json as unknown[]).length, 2);
    // And it cannot create organizations.
    const create = await api.request('POST', '/api/organizations', { auth: otherToken, body: { name: 'third' } });
    assert.equal(create.status, 403);
  });

  test('a deleted user’s token stops working at once', async () => {
    const created = await api.request('POST', '/api/users', {
      auth: api.adminToken,
      body: { username: 'short-lived', password: 'password-123', role: 'viewer' },
    });
    assert.equal(created.status, 201);
    assert.equal((created.json as Record<string, unknown>)['passwordHash'], undefined);
    const token = await api.login('short-lived', 'password-123');
    assert.equal((await api.request('GET', '/api/devices', { auth: token })).status, 200);
    const id = (created.json as { id: string }).id;
    assert.equal((await api.request('DELETE', `/api/users/${id}`, { auth: api.adminToken })).status, 204);
    assert.equal((await api.request('GET', '/api/devices', { auth: token })).status, 401);
  });

  test('a duplicate username is 409', async () => {
    const body = { username: 'twice', password: 'password-123', role: 'viewer' };
    assert.equal((await api.request('POST', '/api/users', { auth: api.adminToken, body })).status, 201);
    const again = await api.request('POST', '/api/users', { auth: api.adminToken, body });
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'DUPLICATE');
  });
});
