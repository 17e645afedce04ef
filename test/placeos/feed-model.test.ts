/**
 * The feed's in-memory pieces on their own: implicit indexes (PlaceOS's 1-based position among same-named modules,
 * device-apis.md §1.1) and the merge of a device's stored state with live changes when it starts being published.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultFeedSettings } from '../../src/dialects/placeos/feed-settings.js';
import type { FeedEntry } from '../../src/dialects/placeos/feed-types.js';
import { OrgFeed } from '../../src/dialects/placeos/org-feed.js';
import { OrgModel } from '../../src/dialects/placeos/org-model.js';
import type { Device, DeviceProfile, DeviceSystem } from '../../src/platform/model.js';

const profile: DeviceProfile = {
  id: 'p1',
  orgId: 'o1',
  name: 'Display',
  payloadType: 'JSON',
  protoSchemas: {},
  provisioning: null,
  sendAckOnValidationFailure: false,
  isDefault: true,
  driverId: 'dep-1',
  createdAt: 0,
};
const system: DeviceSystem = { id: 's1', orgId: 'o1', name: 'Room', zoneIds: [], createdAt: 0 };

function device(id: string, name: string, createdAt: number, index: number | null = null): Device {
  return {
    id,
    orgId: 'o1',
    name,
    profileId: 'p1',
    zoneId: null,
    systemId: 's1',
    index,
    isGateway: false,
    gatewayId: null,
    createdAt,
  };
}

function model(...devices: Device[]): OrgModel {
  const m = new OrgModel();
  m.systems.set(system.id, system);
  m.profiles.set(profile.id, profile);
  for (const d of devices) m.putDevice(d);
  return m;
}

describe('PlaceOS feed model', () => {
  it('devices of the same name in a system without an index are numbered 1, 2… oldest first', () => {
    const m = model(device('b', 'Display', 20), device('a', 'Display', 10), device('c', 'Camera', 5));
    const index = (id: string): number | undefined => m.placementOf(m.devices.get(id)!, [])?.index;
    assert.deepEqual([index('a'), index('b'), index('c')], [1, 2, 1]);
    m.putDevice(device('a', 'Display', 10, 4));
    assert.equal(index('a'), 4, 'a set index wins');
  });

  it('stored state read while live changes arrive never brings back a removed key or an older value', () => {
    const seen: FeedEntry[] = [];
    const feed = new OrgFeed('o1', model(device('d', 'Display', 0)), defaultFeedSettings(), (e) => seen.push(e));
    assert.equal(feed.beginSeeding('d'), true);
    const at = (key: string, ts: number, value: unknown) =>
      feed.onStateChange({
        kind: 'attribute',
        orgId: 'o1',
        deviceId: 'd',
        scope: 'client',
        key,
        ts,
        value: value as never,
      });
    at('power', 200, true); // live, newer than the stored one
    at('mode', 150, 'eco');
    at('mode', 160, undefined); // deleted while the store was read
    feed.seed('d', [
      { key: 'power', ts: 100, valueJson: 'false' },
      { key: 'mode', ts: 140, valueJson: '"eco"' },
      { key: 'input', ts: 90, valueJson: '"hdmi"' },
    ]);
    const current: Record<string, string | null> = Object.fromEntries(
      [...feed.current()].filter((e) => e.kind === 'state').map((e) => [e.topic.split('/').pop()!, e.valueJson]),
    );
    assert.deepEqual(current, { power: 'true', input: '"hdmi"' });
    assert.deepEqual(
      seen.map((e) => `${e.topic.split('/').pop()!}=${String(e.valueJson)}`),
      ['power=true', 'mode="eco"', 'mode=null', 'input="hdmi"'],
    );
  });
});
