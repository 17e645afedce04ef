/**
 * A user's persistent session keeps its scope across a restart: the guard a `#` subscription was granted with is
 * stored with the subscription, so messages queued while the user was offline (and after the server restarted) are
 * still only its own organization's feed and plain topics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { asUser, startUsersServer, type UsersServer } from './helpers.js';

describe('user sessions across a restart', () => {
  const resources = new Resources();
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-users-restart-'));
  after(async () => {
    await resources.closeAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a guarded # subscription of a persistent session still delivers only the user’s organization after a restart', async () => {
    let users: UsersServer = await startUsersServer({ dataDir });
    const key = await users.createApiKey('viewer');
    const { orgId: otherOrgId } = await users.createOrganization('elsewhere');
    const session = {
      ...asUser(key.key),
      clientId: 'dashboard-1',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    };
    const first = await connectClient(users.server.mqttUrl, session);
    await first.client.subscribeAsync('#', { qos: 1 });
    await first.client.endAsync();
    await users.close();

    users = resources.add(await startUsersServer({ dataDir }));
    const publish = (topicName: string, payload: string): void => {
      users.server.broker.publish({
        topicName,
        payload: Buffer.from(payload),
        qos: 1,
        isRetained: false,
        properties: undefined,
      });
    };
    // Published while the user is offline: queued for its session, through the stored guard.
    publish(`placeos/${otherOrgId}/state/hq/1/a/sys/dep/Mod/1/power`, 'theirs');
    publish(`placeos/${users.orgId}/state/hq/1/a/sys/dep/Mod/1/power`, 'ours');
    publish('lobby/notice', 'plain');
    const again = resources.add(await connectClient(users.server.mqttUrl, session));
    assert.equal(again.connack.sessionPresent, true);
    publish('lobby/last', 'barrier');
    await again.waitForMessages(1, (message) => message.topic === 'lobby/last');
    assert.deepEqual(
      again.messages.map((message) => message.payload),
      ['ours', 'plain', 'barrier'],
    );
  });
});
