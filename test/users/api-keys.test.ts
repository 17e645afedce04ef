/**
 * `POST /api/api-keys {"name","role"}` → 201 `{"id","key"}` with the key shown once (issue 5, "Management API
 * additions"), and the key working at once as MQTT credentials with the role it was given.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { pubackCode } from '../thingsboard/tb-clients.js';
import { asUser, startUsersServer, type UsersServer } from './helpers.js';

describe('POST /api/api-keys', () => {
  let users: UsersServer;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer();
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  it('answers 201 with the id and the key, and the key is never shown again', async () => {
    for (const role of ['admin', 'operator', 'viewer'] as const) {
      const created = await users.request('POST', '/api/api-keys', users.adminToken, { name: `ci-${role}`, role });
      assert.equal(created.status, 201);
      const body = created.json as { id: unknown; key: unknown; role: unknown; name: unknown };
      assert.equal(typeof body.id, 'string');
      assert.match(String(body.key), /^sbk_[A-Za-z0-9]{32}$/);
      assert.equal(body.role, role);
      assert.equal(body.name, `ci-${role}`);
      const listed = await users.request('GET', '/api/api-keys', users.adminToken);
      const fetched = await users.request('GET', `/api/api-keys/${String(body.id)}`, users.adminToken);
      assert.equal(fetched.status, 200);
      assert.ok(!JSON.stringify(listed.json).includes(String(body.key)));
      assert.ok(!JSON.stringify(fetched.json).includes(String(body.key)));
      assert.equal((fetched.json as { key?: unknown }).key, undefined);
    }
  });

  it('refuses a missing name or an unknown role with 400, and a viewer with 403', async () => {
    const noName = await users.request('POST', '/api/api-keys', users.adminToken, { role: 'viewer' });
    assert.equal(noName.status, 400);
    assert.equal((noName.json as { error: string }).error, 'INVALID_REQUEST');
    const badRole = await users.request('POST', '/api/api-keys', users.adminToken, { name: 'k', role: 'root' });
    assert.equal(badRole.status, 400);
    const viewer = await users.createUser('viewer');
    const byViewer = await users.request('POST', '/api/api-keys', viewer.token, { name: 'k', role: 'viewer' });
    assert.equal(byViewer.status, 403);
  });

  it('the key connects over MQTT with the role it was given: an operator key publishes, a viewer key may not', async () => {
    const operatorKey = await users.createApiKey('operator');
    const viewerKey = await users.createApiKey('viewer');
    const asOperator = resources.add(await connectClient(users.server.mqttUrl, asUser(operatorKey.key)));
    const asViewer = resources.add(await connectClient(users.apiMqttUrl, asUser(viewerKey.key)));
    assert.equal(await pubackCode(asOperator.client, 'lobby/display', 'on'), 0);
    assert.equal(await pubackCode(asViewer.client, 'lobby/display', 'on'), 0x87);
  });
});
