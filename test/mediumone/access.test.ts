/**
 * Who may publish and subscribe where in the Medium One namespace, for each kind of client (the rules the router asks
 * the dialect for): device users, platform users of the organization (JWT / API key sessions) by role, and others.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorizePublish, authorizeSubscribe } from '../../src/dialects/mediumone/access.js';
import type { MediumOneIdentity } from '../../src/dialects/mediumone/index.js';
import type { UserIdentity } from '../../src/platform/identity.js';

const projects = new Map([
  ['org-a', 'PA'],
  ['org-b', 'PB'],
]);
const projectOf = (orgId: string): string | undefined => projects.get(orgId);

const device: MediumOneIdentity = {
  kind: 'mediumone',
  orgId: 'org-a',
  userId: 'user-1',
  projectMqttId: 'PA',
  userMqttId: 'U1',
};
const user = (role: UserIdentity['role'], orgId = 'org-a'): UserIdentity => ({
  kind: 'user',
  orgId,
  role,
  subject: 'someone',
  expiresAtMs: undefined,
});
const thingsboardDevice = { kind: 'thingsboard-device', device: { orgId: 'org-a' } };

describe('platform users in the Medium One namespace', () => {
  test('any role of the organization may subscribe to its project’s 0/, 1/ and 2/ topics, not another project’s', () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      for (const filter of ['0/PA/#', '1/PA/U1/#', '1/PA/+/+/event', '2/PA/#', '2/PA/_all/x']) {
        assert.equal(authorizeSubscribe(user(role), filter, 1, projectOf), 1, `${role} ${filter}`);
      }
      for (const filter of ['0/PB/#', '1/+/U1/#', '2/#', '1/PAX/#']) {
        assert.equal(authorizeSubscribe(user(role), filter, 1, projectOf), 0x87, `${role} ${filter}`);
      }
    }
  });

  test('operators and admins may publish down topics of their project; viewers may not; nobody may publish events up', () => {
    for (const role of ['operator', 'admin'] as const) {
      assert.equal(authorizePublish(user(role), '1/PA/U1/d1/event', projectOf), true);
      assert.equal(authorizePublish(user(role), '2/PA/_all/notice', projectOf), true);
      assert.equal(authorizePublish(user(role), '2/PB/_all/notice', projectOf), 0x87);
      assert.equal(authorizePublish(user(role), '0/PA/U1/d1', projectOf), 0x87);
    }
    assert.equal(authorizePublish(user('viewer'), '2/PA/_all/notice', projectOf), 0x87);
    assert.equal(authorizePublish(user('admin', 'org-unknown'), '2/PA/_all/notice', projectOf), 0x87);
  });
});

describe('device users and other clients', () => {
  test('a device user publishes only its own events; plain topics are left to the ACL', () => {
    assert.equal(authorizePublish(device, '0/PA/U1/d1', projectOf), true);
    assert.equal(authorizePublish(device, '0/PA/U1', projectOf), true);
    assert.equal(authorizePublish(device, '0/PA/U1x/d1', projectOf), 0x87);
    assert.equal(authorizePublish(device, '0/PA/U2/d1', projectOf), 0x87);
    assert.equal(authorizePublish(device, '1/PA/U1/d1/event', projectOf), 0x87);
    assert.equal(authorizePublish(device, 'plain/topic', projectOf), true);
  });

  test('a device user may not use a first-level wildcard outside the namespace', () => {
    assert.equal(authorizeSubscribe(device, 'plain/#', 0, projectOf), 0);
    assert.equal(authorizeSubscribe(device, '#', 0, projectOf), 0x87);
    assert.equal(authorizeSubscribe(device, '+/PA/#', 0, projectOf), 0x87);
  });

  test('clients of other dialects, and anonymous ones, are refused in the namespace', () => {
    for (const identity of [thingsboardDevice, undefined]) {
      assert.equal(authorizePublish(identity, '0/PA/U1/d1', projectOf), 0x87);
      assert.equal(authorizePublish(identity, '2/PA/_all/x', projectOf), 0x87);
      assert.equal(authorizeSubscribe(identity, '2/PA/#', 1, projectOf), 0x87);
    }
  });
});
