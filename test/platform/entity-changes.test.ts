/**
 * Entity change events: what the PlaceOS feed (metadata, topic moves) and dialect caches listen to. Each successful
 * create, update and delete is reported once, after the store has it; a refused change reports nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntityService, type EntityChange, InUseError } from '../../src/platform/entities.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';

test('creating, changing and deleting entities reports each change once, with before and after', async () => {
  const store = new SqlitePlatformStore(':memory:');
  const entities = new EntityService(store, { zoneHierarchy: ['org', 'building', 'level'] });
  const seen: EntityChange[] = [];
  const unsubscribe = entities.changes.subscribe((change) => seen.push(change));
  try {
    const org = await entities.createOrganization({ name: 'Acme' });
    assert.deepEqual(
      seen.map((c) => [c.entity, c.op]),
      [
        ['organization', 'created'],
        ['profile', 'created'],
      ],
    );
    seen.length = 0;
    const zone = await entities.createZone(org.id, { name: 'Tower', kind: 'building' });
    const system = await entities.createSystem(org.id, { name: 'Room', zoneIds: [zone.id] });
    const { device } = await entities.createDevice(org.id, { name: 'display', systemId: system.id });
    await entities.updateDevice(org.id, device.id, { name: 'display-1' });
    await assert.rejects(entities.deleteSystem(org.id, system.id), InUseError);
    await entities.deleteDevice(org.id, device.id);
    assert.deepEqual(
      seen.map((c) => [c.entity, c.op]),
      [
        ['zone', 'created'],
        ['system', 'created'],
        ['device', 'created'],
        ['device', 'updated'],
        ['device', 'deleted'],
      ],
    );
    const renamed = seen[3]!;
    assert.equal(renamed.entity === 'device' && renamed.before?.name, 'display');
    assert.equal(renamed.entity === 'device' && renamed.after?.name, 'display-1');
    assert.equal(seen[4]!.after, undefined);

    // A device moved to another organization (claiming) arrives unplaced, with the new organization's default profile.
    seen.length = 0;
    const other = await entities.createOrganization({ name: 'Other' });
    const { device: claimed } = await entities.createDevice(org.id, { name: 'sensor', systemId: system.id });
    seen.length = 0;
    const moved = await entities.moveDevice(claimed.id, other.id);
    assert.equal(moved?.orgId, other.id);
    assert.equal(moved?.systemId, null);
    assert.equal(seen.length, 1);
    const change = seen[0]!;
    assert.equal(change.op, 'updated');
    assert.equal(change.orgId, other.id);
    assert.equal(change.entity === 'device' && change.before?.orgId, org.id);
    assert.equal((await store.getDevice(claimed.id))?.profileId, (await entities.defaultProfile(other.id)).id);

    unsubscribe();
    await entities.createZone(org.id, { name: 'Annex', kind: 'building' });
    assert.equal(seen.length, 1, 'nothing after unsubscribing');
  } finally {
    await store.close();
  }
});

test('a listener that throws does not turn a successful change into a failure, nor silence the others', async () => {
  const store = new SqlitePlatformStore(':memory:');
  const entities = new EntityService(store, { zoneHierarchy: ['building'] });
  const seen: string[] = [];
  entities.changes.subscribe(() => {
    throw new Error('listener bug');
  });
  entities.changes.subscribe((change) => seen.push(change.entity));
  try {
    const org = await entities.createOrganization({ name: 'Acme' });
    assert.equal((await store.getOrganization(org.id))?.name, 'Acme');
    assert.deepEqual(seen, ['organization', 'profile']);
  } finally {
    await store.close();
  }
});
