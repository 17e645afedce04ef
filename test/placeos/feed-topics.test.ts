/**
 * The PlaceOS state feed's topic tree end to end (issue 5 "State feed", device-apis.md §1.1, §1.2, §1.6): real
 * ThingsBoard devices publish telemetry over MQTT, MQTT.js subscribers read the feed on the source document's four
 * wildcard examples, retained state reaches a late subscriber, and the payload options of PlaceOS's own publisher.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Resources } from '../helpers/index.js';
import { FeedHarness, parsePayload, type Subscriber } from './feed-harness.js';

const TS = 1_760_000_000_123;

interface Site {
  h: FeedHarness;
  building: string;
  level: string;
  area: string;
  conference: string;
  lobby: string;
  display: string;
  vc: string;
  sensor: string;
  ciscoDriver: string;
  displayDriver: string;
}

/** A building → level → area, a system in the area, one with no zones, a Display, a Cisco VC (dep-123), a sensor. */
async function site(h: FeedHarness): Promise<Site> {
  const building = await h.zone('HQ', 'building');
  const level = await h.zone('Level 24', 'level', building);
  const area = await h.zone('North wing', 'area', level);
  const conference = await h.system('Conference 24.1', [area]);
  const lobby = await h.system('Lobby kiosk', []);
  const displayDriver = await h.profile('Display');
  const ciscoDriver = await h.profile('Cisco VC', 'dep-123');
  const display = await h.device('Display', { system: conference, profile: displayDriver });
  const vc = await h.device('VC', { system: conference, profile: ciscoDriver });
  const sensor = await h.device('Sensor', { system: lobby });
  return { h, building, level, area, conference, lobby, display, vc, sensor, ciscoDriver, displayDriver };
}

describe('PlaceOS state feed topics', () => {
  const resources = new Resources();
  let h: FeedHarness;
  beforeEach(async () => {
    h = await FeedHarness.start(resources);
  });
  afterEach(() => resources.closeAll());

  it('the document’s four wildcard examples work as written with the default hierarchy (building level area)', async () => {
    const s = await site(h);
    await h.feed({ enabled: true });
    const root = `placeos/${h.orgId}/state`;
    const inBuilding = await h.subscriber(`${root}/${s.building}/#`);
    const connected = await h.subscriber(`${root}/+/+/+/+/+/+/+/connected`);
    const displayPower = await h.subscriber(`${root}/+/+/+/+/+/Display/+/power`);
    const ciscoCalls = await h.subscriber(`${root}/+/+/+/+/dep-123/+/+/call_status`);

    for (const device of [s.display, s.vc, s.sensor]) await h.telemetry(device, { connected: true, power: true }, TS);
    await h.telemetry(s.vc, { call_status: { state: 'in_call', remote: 'sip:7001' } }, TS + 1);
    for (const subscriber of [inBuilding, connected, displayPower, ciscoCalls]) await subscriber.barrier();

    const topics = (subscriber: Subscriber): string[] => subscriber.feed.map((m) => m.topic).sort();
    const conferenceRoot = `${root}/${s.building}/${s.level}/${s.area}/${s.conference}`;
    assert.deepEqual(
      topics(inBuilding),
      [
        `${conferenceRoot}/${s.displayDriver}/Display/1/connected`,
        `${conferenceRoot}/${s.displayDriver}/Display/1/power`,
        `${conferenceRoot}/dep-123/VC/1/call_status`,
        `${conferenceRoot}/dep-123/VC/1/connected`,
        `${conferenceRoot}/dep-123/VC/1/power`,
      ].sort(),
    );
    // A system without zones has `_` for every missing tier (device-apis.md §1.1).
    const sensorDriver = get(await h.ok('GET', `/api/devices/${s.sensor}`), 'profileId') as string;
    assert.deepEqual(
      topics(connected),
      [
        `${conferenceRoot}/${s.displayDriver}/Display/1/connected`,
        `${conferenceRoot}/dep-123/VC/1/connected`,
        `${root}/_/_/_/${s.lobby}/${sensorDriver}/Sensor/1/connected`,
      ].sort(),
    );
    assert.deepEqual(topics(displayPower), [`${conferenceRoot}/${s.displayDriver}/Display/1/power`]);
    assert.deepEqual(topics(ciscoCalls), [`${conferenceRoot}/dep-123/VC/1/call_status`]);

    // The document's payload: time in epoch ms, value a serialized JSON string; retained ([MQTT-3.3.1-5]).
    const call = ciscoCalls.feed[0]!;
    assert.deepEqual(parsePayload(call), { time: TS + 1, value: '{"state":"in_call","remote":"sip:7001"}' });
  });

  it('with PlaceOS’s own hierarchy (org region building level area) the examples take one more +', async () => {
    const s = await site(h);
    await h.feed({ enabled: true, hierarchy: ['org', 'region', 'building', 'level', 'area'] });
    const root = `placeos/${h.orgId}/state`;
    const connected = await h.subscriber(`${root}/+/+/+/+/+/+/+/+/connected`);
    const ciscoCalls = await h.subscriber(`${root}/+/+/+/+/+/dep-123/+/+/call_status`);
    await h.telemetry(s.vc, { connected: true, call_status: 'idle' }, TS);
    await connected.barrier();
    await ciscoCalls.barrier();
    // No region zone: `_`, as in PlaceOS's own fixture `placeos/org-donor/state/_/cards/…` (device-apis.md §1.1).
    const vcRoot = `${root}/_/${s.building}/${s.level}/${s.area}/${s.conference}/dep-123/VC/1`;
    assert.deepEqual(
      connected.feed.map((m) => m.topic),
      [`${vcRoot}/connected`],
    );
    assert.deepEqual(
      ciscoCalls.feed.map((m) => m.topic),
      [`${vcRoot}/call_status`],
    );
    // The building joins a region (the server's zone tiers include PlaceOS's region): the level fills in.
    const region = await h.zone('EMEA', 'region');
    ciscoCalls.clear();
    await h.ok('PUT', `/api/zones/${s.building}`, { parent: region });
    await ciscoCalls.barrier();
    assert.deepEqual(
      ciscoCalls.feed.map((m) => [m.topic, m.payload === '' ? 'removed' : 'set']),
      [
        [`${vcRoot}/call_status`, 'removed'],
        [`${root}/${region}/${s.building}/${s.level}/${s.area}/${s.conference}/dep-123/VC/1/call_status`, 'set'],
      ],
    );
  });

  it('a late subscriber gets the current value of every key at once, flagged retained', async () => {
    const s = await site(h);
    await h.feed({ enabled: true });
    await h.telemetry(s.display, { power: false, input: 'hdmi1' }, TS);
    await h.telemetry(s.display, { power: true }, TS + 5);
    const late = await h.subscriber(`placeos/${h.orgId}/state/#`);
    const byTopic = new Map(late.feed.map((m) => [m.topic.split('/').pop(), m]));
    assert.equal(late.feed.length, 2);
    // [MQTT-3.3.1-6] retained messages go to a new subscription with RETAIN set.
    assert.ok(late.feed.every((m) => m.packet.retain));
    assert.deepEqual(parsePayload(byTopic.get('power')!), { time: TS + 5, value: 'true' });
    assert.deepEqual(parsePayload(byTopic.get('input')!), { time: TS, value: '"hdmi1"' });
  });

  it('time in seconds and raw JSON values reproduce PlaceOS’s own publisher', async () => {
    const s = await site(h);
    await h.feed({ enabled: true, timeUnit: 's', valueEncoding: 'raw' });
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    await h.telemetry(s.display, { power: true, volume: 42.5, source: 'hdmi', layout: { split: [1, 2] } }, TS);
    await all.barrier();
    const values: Record<string, unknown> = Object.fromEntries(
      all.feed.map((m) => [m.topic.split('/').pop()!, parsePayload(m)]),
    );
    // Whole seconds, truncated (Crystal's Time::EpochConverter), and the value embedded as JSON (device-apis.md §1.2).
    const time = Math.floor(TS / 1000);
    assert.deepEqual(values, {
      power: { time, value: true },
      volume: { time, value: 42.5 },
      source: { time, value: 'hdmi' },
      layout: { time, value: { split: [1, 2] } },
    });
  });

  it('a device outside any system is not published (device-apis.md §1.6)', async () => {
    const s = await site(h);
    await h.feed({ enabled: true });
    const loose = await h.device('Loose');
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    await h.telemetry(loose, { connected: true }, TS);
    await h.telemetry(s.display, { connected: true }, TS);
    await all.barrier();
    assert.deepEqual(
      all.feed.map((m) => m.topic.split('/').slice(-3).join('/')),
      ['Display/1/connected'],
    );
  });

  it('attributes and event leaves are state keys too; a deleted attribute empties its topic', async () => {
    const s = await site(h);
    await h.feed({ enabled: true });
    const all = await h.subscriber(`placeos/${h.orgId}/state/#`);
    await h.attributes(s.display, { firmware: '2.1.0' });
    const { platform } = h.srv.server;
    const device = (await platform.entities.getDevice(h.orgId, s.display))!;
    await platform.committed((done) => {
      platform.postEvents(
        device,
        [{ stream: 'raw', at: TS, atText: null, data: { occupancy: { people: 3 } }, expiresAt: null }],
        done,
      );
    });
    await all.barrier();
    const prefix = all.feed[0]!.topic.replace(/firmware$/, '');
    assert.deepEqual(
      all.feed.map((m) => [m.topic.slice(prefix.length), m.payload]),
      [
        ['firmware', `{"time":${String(parsePayload(all.feed[0]!).time)},"value":"\\"2.1.0\\""}`],
        ['occupancy.people', `{"time":${String(TS)},"value":"3"}`],
      ],
    );
    all.clear();
    await platform.committed((done) => {
      platform.deleteAttributes(device, 'client', ['firmware'], done);
    });
    await all.barrier();
    assert.deepEqual(
      all.feed.map((m) => [m.topic.slice(prefix.length), m.payload]),
      [['firmware', '']],
    );
  });

  it('the index is the one set on the device; names with / + # are percent-encoded into one level', async () => {
    const s = await site(h);
    await h.feed({ enabled: true });
    const odd = await h.device('Desk 4/B #2+', { system: s.conference, index: 7 });
    const all = await h.subscriber(`placeos/${h.orgId}/state/+/+/+/+/+/+/7/+`);
    await h.telemetry(odd, { 'a/b': 1 }, TS);
    await all.barrier();
    assert.equal(all.feed.length, 1);
    assert.match(all.feed[0]!.topic, /\/Desk 4%2FB %232%2B\/7\/a%2Fb$/);
  });
});

function get(json: unknown, key: string): unknown {
  return (json as Record<string, unknown>)[key];
}
