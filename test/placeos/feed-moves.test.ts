/**
 * Moves and metadata on the PlaceOS feed (issue 5, device-apis.md §1.1 "removal", §1.2 metadata, §1.6): renaming,
 * moving or deleting a device empties its old retained topics before the new ones appear; every organization, zone,
 * system and driver has a retained metadata topic, updated on change and `value: null` on deletion; turning the feed
 * on publishes what the store already holds, and turning it off removes nothing.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Resources } from '../helpers/index.js';
import { FeedHarness, parsePayload, type Subscriber } from './feed-harness.js';

const TS = 1_760_000_000_000;

/** [topic, payload] of each feed message, in arrival order. */
function log(subscriber: Subscriber): [string, string][] {
  return subscriber.feed.map((m) => [m.topic, m.payload]);
}

describe('PlaceOS feed: devices that move', () => {
  const resources = new Resources();
  let h: FeedHarness;
  let root: string;
  let systemA: string;
  let systemB: string;
  let driver: string;
  let display: string;
  beforeEach(async () => {
    h = await FeedHarness.start(resources);
    root = `placeos/${h.orgId}/state/_/_/_`;
    systemA = await h.system('Room A', []);
    systemB = await h.system('Room B', []);
    driver = await h.profile('Display', 'dep-9');
    display = await h.device('Display', { system: systemA, profile: driver });
    await h.feed({ enabled: true });
    await h.telemetry(display, { power: true, input: 'hdmi1' }, TS);
  });
  afterEach(() => resources.closeAll());

  const oldTopics = (): string[] => [
    `${root}/${systemA}/dep-9/Display/1/power`,
    `${root}/${systemA}/dep-9/Display/1/input`,
  ];

  it('renaming a device empties its old topics, then publishes its state under the new name', async () => {
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    all.clear();
    await h.ok('PUT', `/api/devices/${display}`, { name: 'Lobby display' });
    await all.barrier();
    const seen = log(all);
    const removals = seen.filter(([, payload]) => payload === '');
    const added = seen.filter(([, payload]) => payload !== '');
    assert.deepEqual(removals.map(([topic]) => topic).sort(), oldTopics().sort());
    assert.deepEqual(
      added.map(([topic, payload]) => [topic, payload]).sort(),
      [
        [`${root}/${systemA}/dep-9/Lobby display/1/input`, `{"time":${String(TS)},"value":"\\"hdmi1\\""}`],
        [`${root}/${systemA}/dep-9/Lobby display/1/power`, `{"time":${String(TS)},"value":"true"}`],
      ].sort(),
    );
    // Every removal comes before the first new topic (device-apis.md §1.6: deletions drained first).
    assert.ok(seen.findIndex(([, p]) => p !== '') > seen.findLastIndex(([, p]) => p === ''));
    // A subscriber arriving now sees only the new topics ([MQTT-3.3.1-10]: the empty message deleted the old ones).
    const late = await h.subscriber(`placeos/${h.orgId}/state/#`);
    assert.deepEqual(
      late.feed.map((m) => m.topic.split('/')[8]),
      ['Lobby display', 'Lobby display'],
    );
  });

  it('moving a device to another system moves its topics; changing its driver or index too', async () => {
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    all.clear();
    await h.ok('PUT', `/api/devices/${display}`, { system: systemB, index: 3 });
    await all.barrier();
    const seen = log(all);
    assert.deepEqual(
      seen
        .slice(0, 2)
        .map(([topic, payload]) => [topic, payload])
        .sort(),
      oldTopics()
        .sort()
        .map((t) => [t, '']),
    );
    assert.deepEqual(
      seen
        .slice(2)
        .map(([topic]) => topic)
        .sort(),
      [`${root}/${systemB}/dep-9/Display/3/input`, `${root}/${systemB}/dep-9/Display/3/power`],
    );
    all.clear();
    await h.ok('PUT', `/api/profiles/${driver}`, { driverId: 'dep-10' });
    await all.barrier();
    assert.deepEqual(
      log(all).map(
        ([topic, payload]) => `${topic.split('/').slice(-4).join('/')} ${payload === '' ? 'removed' : 'set'}`,
      ),
      [
        'dep-9/Display/3/power removed',
        'dep-9/Display/3/input removed',
        'dep-10/Display/3/power set',
        'dep-10/Display/3/input set',
      ],
    );
  });

  it('deleting a device, or taking it out of its system, empties its topics', async () => {
    const other = await h.device('Panel', { system: systemA, profile: driver });
    await h.telemetry(other, { power: false }, TS);
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    all.clear();
    await h.ok('PUT', `/api/devices/${other}`, { system: null });
    await h.ok('DELETE', `/api/devices/${display}`);
    await all.barrier();
    assert.deepEqual(log(all), [
      [`${root}/${systemA}/dep-9/Panel/1/power`, ''],
      ...oldTopics().map((topic): [string, string] => [topic, '']),
    ]);
    const late = await h.subscriber(`placeos/${h.orgId}/state/#`);
    assert.deepEqual(late.feed, []);
  });
});

describe('PlaceOS feed: zones that change', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  it('putting a system in other zones, or a zone under another parent, moves its devices’ topics', async () => {
    const h = await FeedHarness.start(resources);
    const hq = await h.zone('HQ', 'building');
    const annex = await h.zone('Annex', 'building');
    const level = await h.zone('Level 1', 'level', hq);
    const system = await h.system('Room', [level]);
    const display = await h.device('Display', { system });
    await h.feed({ enabled: true });
    await h.telemetry(display, { power: true }, TS);
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    all.clear();
    const tiers = (topic: string): string => topic.split('/').slice(3, 6).join('/');
    // The level moves to the annex: the system is in it, so its building changes.
    await h.ok('PUT', `/api/zones/${level}`, { parent: annex });
    await all.barrier();
    assert.deepEqual(
      log(all).map(([topic, payload]) => `${tiers(topic)} ${payload === '' ? 'removed' : 'set'}`),
      [`${hq}/${level}/_ removed`, `${annex}/${level}/_ set`],
    );
    all.clear();
    await h.ok('PUT', `/api/systems/${system}`, { zones: [hq] });
    await all.barrier();
    assert.deepEqual(
      log(all).map(([topic, payload]) => `${tiers(topic)} ${payload === '' ? 'removed' : 'set'}`),
      [`${annex}/${level}/_ removed`, `${hq}/_/_ set`],
    );
  });
});

describe('PlaceOS feed: organizations that go', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  it('deleting an organization empties its state topics and publishes null metadata', async () => {
    const server = await FeedHarness.start(resources);
    const created = await server.ok('POST', '/api/organizations', {
      name: 'Tenant',
      admin: { username: 'tenant-admin', password: 'feed-admin-password' },
    });
    const h = await FeedHarness.connect(server.srv, resources, 'tenant-admin');
    assert.equal(h.orgId, get(created, 'id'));
    const system = await h.system('Room', []);
    const display = await h.device('Display', { system });
    await h.feed({ enabled: true });
    await h.telemetry(display, { power: true }, TS);
    const all = await h.subscriber(`placeos/${h.orgId}/#`);
    all.clear();
    await server.ok('DELETE', `/api/organizations/${h.orgId}`);
    await all.barrier();
    const state = all.feed.filter((m) => m.topic.includes('/state/'));
    assert.deepEqual(
      state.map((m) => [m.topic.split('/').pop(), m.payload]),
      [['power', '']],
    );
    const metadata = all.feed.filter((m) => m.topic.includes('/metadata/'));
    assert.ok(metadata.length >= 3, 'organization, system and default driver');
    assert.ok(metadata.every((m) => parsePayload(m).value === null));
  });
});

describe('PlaceOS feed metadata', () => {
  const resources = new Resources();
  let h: FeedHarness;
  beforeEach(async () => {
    h = await FeedHarness.start(resources);
  });
  afterEach(() => resources.closeAll());

  const value = (subscriber: Subscriber, id: string): unknown[] =>
    subscriber.feed.filter((m) => m.topic === `placeos/${h.orgId}/metadata/${id}`).map((m) => parsePayload(m).value);

  it('turning the feed on publishes the organization, zones, systems and drivers, retained, with their names', async () => {
    const building = await h.zone('HQ', 'building');
    const system = await h.system('Boardroom', [building]);
    const driver = await h.profile('Cisco VC', 'dep-123');
    await h.feed({ enabled: true });
    const late = await h.subscriber(`placeos/${h.orgId}/metadata/+`);
    assert.ok(late.feed.every((m) => m.packet.retain));
    assert.deepEqual(value(late, h.orgId), [
      { id: h.orgId, name: get(await h.ok('GET', `/api/organizations/${h.orgId}`), 'name'), type: 'organization' },
    ]);
    assert.deepEqual(value(late, building), [
      { id: building, name: 'HQ', type: 'zone', tier: 'building', parentId: null },
    ]);
    assert.deepEqual(value(late, system), [{ id: system, name: 'Boardroom', type: 'system', zones: [building] }]);
    // A driver's metadata id is the state topics' driver level (`dep-123`), so a subscriber can look it up.
    assert.deepEqual(value(late, 'dep-123'), [{ id: 'dep-123', name: 'Cisco VC', type: 'driver', profileId: driver }]);
    assert.equal(typeof parsePayload(late.feed[0]!).time, 'number');
  });

  it('creating, renaming and deleting entities updates their metadata; deletion publishes value null', async () => {
    await h.feed({ enabled: true });
    const all = await h.subscriber(`placeos/${h.orgId}/metadata/+`);
    const level = await h.zone('Level 2', 'level');
    await h.ok('PUT', `/api/zones/${level}`, { name: 'Level 24' });
    const system = await h.system('Huddle', [level]);
    await h.ok('PUT', `/api/systems/${system}`, { name: 'Huddle 24.3' });
    const driver = await h.profile('Display');
    await h.ok('PUT', `/api/organizations/${h.orgId}`, { name: 'Acme' });
    await h.ok('DELETE', `/api/systems/${system}`);
    await h.ok('DELETE', `/api/zones/${level}`);
    await h.ok('DELETE', `/api/profiles/${driver}`);
    await all.barrier();
    const names = (id: string): unknown[] => value(all, id).map((v) => (v === null ? null : get(v, 'name')));
    assert.deepEqual(names(level), ['Level 2', 'Level 24', null]);
    assert.deepEqual(names(system), ['Huddle', 'Huddle 24.3', null]);
    assert.deepEqual(names(driver), ['Display', null]);
    assert.deepEqual(names(h.orgId).slice(-1), ['Acme']);
    // A deleted entity's metadata stays retained as `{"time", "value": null}` (device-apis.md §1.2), not removed.
    const late = await h.subscriber(`placeos/${h.orgId}/metadata/${level}`);
    assert.deepEqual(
      late.feed.map((m) => parsePayload(m).value),
      [null],
    );
  });
});

describe('PlaceOS feed on and off', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  it('turning the feed on publishes what the store already holds; off stops publishing and removes nothing', async () => {
    const h = await FeedHarness.start(resources);
    const system = await h.system('Room', []);
    const display = await h.device('Display', { system });
    await h.telemetry(display, { power: true }, TS);
    await h.attributes(display, { firmware: '1.0' });
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    assert.equal(all.feed.length, 0);
    await h.feed({ enabled: true });
    await all.barrier();
    assert.deepEqual(all.feed.map((m) => m.topic.split('/').pop()).sort(), ['firmware', 'power']);
    await h.feed({ enabled: false });
    all.clear();
    await h.telemetry(display, { power: false }, TS + 1);
    await all.barrier();
    assert.equal(all.feed.length, 0);
    const late = await h.subscriber(`placeos/${h.orgId}/state/#`);
    assert.equal(late.feed.length, 2, 'the retained state published while on stays');
    assert.deepEqual(await h.ok('GET', `/api/organizations/${h.orgId}/feed`), {
      enabled: false,
      hierarchy: ['building', 'level', 'area'],
      timeUnit: 'ms',
      valueEncoding: 'string',
      filters: [],
    });
  });

  it('a point older than the current value does not replace the retained state', async () => {
    const h = await FeedHarness.start(resources);
    const system = await h.system('Room', []);
    const display = await h.device('Display', { system });
    await h.feed({ enabled: true });
    await h.telemetry(display, { temperature: 21 }, TS);
    await h.telemetry(display, { temperature: 19 }, TS - 60_000);
    const late = await h.subscriber(`placeos/${h.orgId}/state/#`);
    assert.deepEqual(
      late.feed.map((m) => parsePayload(m)),
      [{ time: TS, value: '21' }],
    );
  });
});

function get(json: unknown, key: string): unknown {
  return (json as Record<string, unknown>)[key];
}
