/**
 * Open user sessions follow changes to their credentials: deleting the API key or the user, changing the user's role,
 * or deleting the organization closes them with DISCONNECT 0x98 Administrative action (3.1.1: closed), since the
 * session's rights were those of the old credentials.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { clientClosed, connectClient, Resources } from '../helpers/index.js';
import { serverDisconnect } from '../thingsboard/tb-clients.js';
import { REVOKED_REASON_STRING } from '../../src/dialects/users/index.js';
import { asUser, startUsersServer, type UsersServer } from './helpers.js';

describe('revoked credentials close their sessions', () => {
  let users: UsersServer;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer();
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  it('deleting an API key closes its open sessions with 0x98; other keys’ sessions stay', async () => {
    const doomed = await users.createApiKey('viewer');
    const kept = await users.createApiKey('viewer');
    const first = resources.add(await connectClient(users.apiMqttUrl, asUser(doomed.key)));
    const second = resources.add(await connectClient(users.server.mqttUrl, asUser(doomed.key, 4)));
    const other = resources.add(await connectClient(users.server.mqttUrl, asUser(kept.key)));
    const disconnected = serverDisconnect(first.client);
    assert.equal((await users.request('DELETE', `/api/api-keys/${doomed.id}`, users.adminToken)).status, 204);
    const packet = await disconnected;
    assert.equal(packet.reasonCode, 0x98);
    assert.equal(packet.properties?.reasonString, REVOKED_REASON_STRING);
    await clientClosed(second.client);
    // The other key's session still answers.
    await other.client.subscribeAsync('lobby/display', { qos: 1 });
    assert.equal(other.client.connected, true);
  });

  it('changing a user’s role closes the sessions opened with its JWT', async () => {
    const user = await users.createUser('viewer');
    const session = resources.add(await connectClient(users.server.mqttUrl, asUser(user.token)));
    const disconnected = serverDisconnect(session.client);
    const patched = await users.request('PUT', `/api/users/${user.id}`, users.adminToken, { role: 'operator' });
    assert.equal(patched.status, 200);
    assert.equal((await disconnected).reasonCode, 0x98);
    // Reconnecting with the same token gets the new role: it may publish now.
    const again = resources.add(await connectClient(users.server.mqttUrl, asUser(user.token)));
    await again.client.publishAsync('lobby/display', 'as operator', { qos: 1 });
  });

  it('deleting the user or its organization closes its sessions', async () => {
    const user = await users.createUser('viewer');
    const session = resources.add(await connectClient(users.server.mqttUrl, asUser(user.token)));
    const disconnected = serverDisconnect(session.client);
    assert.equal((await users.request('DELETE', `/api/users/${user.id}`, users.adminToken)).status, 204);
    assert.equal((await disconnected).reasonCode, 0x98);

    const other = await users.createOrganization('leaving');
    const member = await users.createUser('viewer', other.adminToken);
    const memberSession = resources.add(await connectClient(users.server.mqttUrl, asUser(member.token)));
    const memberDisconnected = serverDisconnect(memberSession.client);
    const deleted = await users.request('DELETE', `/api/organizations/${other.orgId}`, users.adminToken);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.json));
    assert.equal((await memberDisconnected).reasonCode, 0x98);
  });
});
