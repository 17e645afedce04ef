/**
 * Medium One device users over MQTT, end to end against a whole server (SQLite): logging in, sending events on
 * `0/<project>/<user>/<device_id>`, and what happens to bad events. Real clients: MQTT.js (3.1.1 and 5) and
 * mosquitto_pub running the source document's example payload.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Device } from '../../src/platform/model.js';
import { connackCode, PROTOCOL_VERSIONS, Resources, runMosquitto, type TestClient } from '../helpers/index.js';
import { connectDeviceUser, eventually, publishForPuback, roundTrip } from './clients.js';
import { startM1, type M1Fixture } from './harness.js';

const DOC_EVENT = '{"event_data":{"hello":"world"},"observed_at":"2001-01-01T00:10:10.000000Z"}';

let fixture: M1Fixture;
const resources = new Resources();

beforeEach(async () => {
  fixture = resources.add(await startM1());
});
afterEach(() => resources.closeAll());

async function deviceNamed(name: string): Promise<Device | undefined> {
  return fixture.platform.store.getDeviceByName(fixture.project.orgId, name);
}

function eventTopic(deviceId: string): string {
  return `0/${fixture.project.mqttId}/${fixture.user.mqttId}/${deviceId}`;
}

async function connectV(version: 4 | 5): Promise<TestClient> {
  return resources.add(await connectDeviceUser(fixture, version));
}

function connackCodeOf(
  version: 4 | 5,
  username: string,
  password: string,
  clientId = `m1-refused-${version}`,
): Promise<number> {
  return connackCode(fixture.server.mqttUrl, { protocolVersion: version, clientId, username, password });
}

describe('logging in', () => {
  for (const version of PROTOCOL_VERSIONS) {
    test(`a device user logs in with <project>/<user> and <api key>/<password> (MQTT ${version === 5 ? '5' : '3.1.1'})`, async () => {
      const client = await connectV(version);
      assert.equal(client.client.connected, true);
    });
  }

  test('a wrong password, an unknown user or project are refused as bad user name or password (0x86, 3.1.1 0x04)', async () => {
    const { project, user } = fixture;
    const cases: [string, string][] = [
      [project.usernameOf(user), `${project.apiKey}/wrong-password`],
      [`${project.mqttId}/nosuchuser`, project.passwordOf(user)],
      [`nosuchproject/${user.mqttId}`, project.passwordOf(user)],
      [project.usernameOf(user), `sbk_${'x'.repeat(32)}/${user.password}`],
    ];
    for (const [username, password] of cases) {
      assert.equal(await connackCodeOf(5, username, password), 0x86, username);
      assert.equal(await connackCodeOf(4, username, password), 0x04, username);
    }
  });

  test('a user of one project with another project’s API key is not authorized (0x87, 3.1.1 0x05)', async () => {
    const other = await fixture.createProject('other');
    const password = `${other.apiKey}/${fixture.user.password}`;
    assert.equal(await connackCodeOf(5, fixture.project.usernameOf(fixture.user), password), 0x87);
    assert.equal(await connackCodeOf(4, fixture.project.usernameOf(fixture.user), password), 0x05);
  });

  test('a user of another project cannot log in to this one with its own credentials (0x86)', async () => {
    const other = await fixture.createProject('other');
    const stranger = await other.createUser('stranger');
    assert.equal(
      await connackCodeOf(5, `${fixture.project.mqttId}/${stranger.mqttId}`, other.passwordOf(stranger)),
      0x86,
    );
  });

  test('a client id longer than 32 characters is refused as not valid (0x85, 3.1.1 0x02)', async () => {
    const { project, user } = fixture;
    const longId = 'c'.repeat(33);
    assert.equal(await connackCodeOf(5, project.usernameOf(user), project.passwordOf(user), longId), 0x85);
    assert.equal(await connackCodeOf(4, project.usernameOf(user), project.passwordOf(user), longId), 0x02);
    assert.equal(await connackCodeOf(5, project.usernameOf(user), project.passwordOf(user), 'c'.repeat(32)), 0);
  });
});

describe('events up', () => {
  for (const version of PROTOCOL_VERSIONS) {
    test(`a QoS 1 event is acknowledged once stored: event_data with device_id, each leaf a telemetry point at observed_at (MQTT ${version === 5 ? '5' : '3.1.1'})`, async () => {
      const client = await connectV(version);
      const payload = JSON.stringify({
        event_data: { temperature: 21.5, gps: { lat: 45.5, lng: -73.6 }, door: 'open' },
        observed_at: '2014-06-11T02:11:25.076001Z',
      });
      const puback = await publishForPuback(client.client, eventTopic('oven-1'), payload);
      assert.equal(puback.reasonCode, 0);

      // Acknowledged means stored: no waiting needed from here on.
      const device = await deviceNamed('oven-1');
      assert.ok(device !== undefined, 'the first event created the device, named by its device id');
      const events = await fixture.platform.store.queryEvents({ deviceIds: [device.id], limit: 10, order: 'ASC' });
      assert.equal(events.length, 1);
      const at = Date.UTC(2014, 5, 11, 2, 11, 25, 76);
      assert.deepEqual(
        { stream: events[0]!.stream, at: events[0]!.at, atText: events[0]!.atText, data: events[0]!.data },
        {
          stream: 'raw',
          at,
          atText: '2014-06-11T02:11:25.076001Z',
          data: { temperature: 21.5, gps: { lat: 45.5, lng: -73.6 }, door: 'open', device_id: 'oven-1' },
        },
      );
      const latest = await fixture.api('GET', `/api/devices/${device.id}/telemetry/latest`, {
        token: fixture.project.adminToken,
      });
      assert.equal(latest.status, 200);
      assert.deepEqual(latest.json, {
        temperature: { ts: at, value: 21.5 },
        'gps.lat': { ts: at, value: 45.5 },
        'gps.lng': { ts: at, value: -73.6 },
        door: { ts: at, value: 'open' },
      });
    });
  }

  test('every event is a state change on the platform bus: the organization’s live stream shows the event and its points', async () => {
    const controller = new AbortController();
    const response = await fetch(
      `${fixture.server.httpUrl}/api/organizations/${fixture.project.orgId}/stream?access_token=${fixture.project.adminToken}`,
      { signal: controller.signal },
    );
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The stream is open once its first comment arrives: changes from now on are in it.
    while (!text.includes(': connected')) text += decoder.decode((await reader.read()).value as Uint8Array | undefined);
    const client = await connectV(5);
    const payload = '{"event_data":{"level":{"water":3}},"observed_at":"2020-05-05T05:05:05.123456+02:00"}';
    assert.equal((await publishForPuback(client.client, eventTopic('tank'), payload)).reasonCode, 0);
    while (!(text.includes('event: event') && text.includes('event: telemetry'))) {
      text += decoder.decode((await reader.read()).value as Uint8Array | undefined);
    }
    controller.abort();
    const frames = text
      .split('\n\n')
      .filter((frame) => frame.startsWith('event: '))
      .map((frame) => JSON.parse(frame.split('\ndata: ')[1]!) as Record<string, unknown>);
    const telemetry = frames.find((frame) => frame['kind'] === 'telemetry');
    assert.equal(telemetry?.['key'], 'level.water');
    assert.equal(telemetry['value'], 3);
    assert.equal(telemetry['ts'], Date.UTC(2020, 4, 5, 3, 5, 5, 123));
    assert.ok(frames.some((frame) => frame['kind'] === 'event'));
  });

  test('the management API lists a device’s or a user’s events with at and the observed_at as sent', async () => {
    const client = await connectV(5);
    const token = fixture.project.adminToken;
    for (const [device, second] of [
      ['fridge', '01'],
      ['fridge', '02'],
      ['freezer', '03'],
    ] as const) {
      const payload = `{"event_data":{"s":${Number(second)}},"observed_at":"2020-01-01T00:00:${second}.000001Z"}`;
      assert.equal((await publishForPuback(client.client, eventTopic(device), payload)).reasonCode, 0);
    }
    const byDevice = await fixture.api('GET', '/api/mediumone/events?device=fridge&order=ASC', { token });
    assert.equal(byDevice.status, 200, byDevice.text);
    assert.deepEqual(
      (byDevice.json as { atText: string; at: number }[]).map((e) => [e.atText, e.at]),
      [
        ['2020-01-01T00:00:01.000001Z', Date.UTC(2020, 0, 1, 0, 0, 1)],
        ['2020-01-01T00:00:02.000001Z', Date.UTC(2020, 0, 1, 0, 0, 2)],
      ],
    );
    const byUser = await fixture.api('GET', `/api/mediumone/events?user=${fixture.user.mqttId}&limit=2`, { token });
    assert.deepEqual(
      (byUser.json as { data: { s: number } }[]).map((e) => e.data.s),
      [3, 2],
      'newest first by default',
    );
    assert.equal((await fixture.api('GET', '/api/mediumone/events', { token })).status, 400);
    assert.equal((await fixture.api('GET', '/api/mediumone/events?device=nothing', { token })).status, 404);
    assert.equal((await fixture.api('GET', '/api/mediumone/events?device=fridge')).status, 401);
  });

  test('an event with an empty device id belongs to the user’s own device, user/<user mqttId>', async () => {
    const client = await connectV(5);
    assert.equal((await publishForPuback(client.client, eventTopic(''), '{"event_data":{"v":1}}')).reasonCode, 0);
    // The older revision's form without the trailing slash is the same device.
    const bare = `0/${fixture.project.mqttId}/${fixture.user.mqttId}`;
    assert.equal((await publishForPuback(client.client, bare, '{"event_data":{"v":2}}')).reasonCode, 0);
    const device = await deviceNamed(`user/${fixture.user.mqttId}`);
    assert.ok(device !== undefined);
    const events = await fixture.platform.store.queryEvents({ deviceIds: [device.id], limit: 10, order: 'ASC' });
    assert.deepEqual(
      events.map((e) => e.data),
      [{ v: 1 }, { v: 2 }],
      'no device_id is added for an empty device id',
    );
  });

  test('an event without observed_at is stamped with the receive time; a named stream is kept', async () => {
    const client = await connectV(5);
    const before = Date.now();
    const payload = '{"event_data":{"n":1},"stream":"diagnostics"}';
    assert.equal((await publishForPuback(client.client, eventTopic('d1'), payload)).reasonCode, 0);
    const device = (await deviceNamed('d1'))!;
    const [event] = await fixture.platform.store.queryEvents({ deviceIds: [device.id], limit: 1, order: 'ASC' });
    assert.equal(event?.stream, 'diagnostics');
    assert.equal(event.atText, null);
    assert.ok(event.at >= before && event.at <= Date.now());
  });

  test('a QoS 0 event is stored too', async () => {
    const client = await connectV(4);
    client.client.publish(eventTopic('qos0'), '{"event_data":{"x":true}}', { qos: 0 });
    await roundTrip(client.client);
    // A QoS 0 publisher gets no acknowledgement: poll the store until the commit shows.
    await eventually(async () => {
      const device = await deviceNamed('qos0');
      if (device === undefined) return false;
      const points = await fixture.platform.store.latestTelemetry(device.id);
      return points.some((p) => p.key === 'x' && p.value === true);
    }, 'the QoS 0 event to be stored');
  });

  test('mosquitto_pub sends the source document’s example event, stored with its microseconds', async () => {
    const { project, user } = fixture;
    for (const version of ['mqttv311', 'mqttv5']) {
      const run = runMosquitto('mosquitto_pub', fixture.server.mqttPort, [
        '-V',
        version,
        '-i',
        `m1-mosq-${version}`,
        '-u',
        project.usernameOf(user),
        '-P',
        project.passwordOf(user),
        '-q',
        '1',
        '-t',
        eventTopic(`mosq-${version}`),
        '-m',
        DOC_EVENT,
      ]);
      const result = await run.result;
      assert.equal(result.code, 0, result.stderr);
      // mosquitto_pub exits after the PUBACK, which the server sends after the commit.
      const device = await deviceNamed(`mosq-${version}`);
      assert.ok(device !== undefined);
      const [event] = await fixture.platform.store.queryEvents({ deviceIds: [device.id], limit: 1, order: 'ASC' });
      assert.equal(event?.atText, '2001-01-01T00:10:10.000000Z');
      assert.equal(event.at, Date.UTC(2001, 0, 1, 0, 10, 10));
      assert.deepEqual(event.data, { hello: 'world', device_id: `mosq-${version}` });
    }
  });
});

describe('bad events', () => {
  const oversized = JSON.stringify({ event_data: { blob: 'x'.repeat(70_000) } });
  const refusals: {
    name: string;
    topic?: (fixture: M1Fixture) => string;
    payload: string;
    code: number;
    reason: string;
  }[] = [
    { name: 'an event over 64 KB', payload: oversized, code: 0x99, reason: 'larger than the limit of 65536 bytes' },
    {
      name: 'an observed_at without a time zone',
      payload: '{"event_data":{"a":1},"observed_at":"2014-06-11T02:11:25.076001"}',
      code: 0x99,
      reason: 'has no time zone',
    },
    {
      name: 'an event without event_data',
      payload: '{"observed_at":"2014-06-11T02:11:25Z"}',
      code: 0x99,
      reason: 'no "event_data"',
    },
    { name: 'a payload that is not JSON', payload: 'hello', code: 0x99, reason: 'not valid JSON' },
    {
      name: 'the reserved device id _all',
      topic: (f) => `0/${f.project.mqttId}/${f.user.mqttId}/_all`,
      payload: '{"event_data":{}}',
      code: 0x90,
      reason: 'reserved',
    },
    {
      name: 'a topic deeper than the device id',
      topic: (f) => `0/${f.project.mqttId}/${f.user.mqttId}/d1/extra`,
      payload: '{"event_data":{}}',
      code: 0x90,
      reason: 'not an event topic',
    },
  ];

  for (const refusal of refusals) {
    test(`MQTT 5: ${refusal.name} is refused with PUBACK 0x${refusal.code.toString(16)} and a reason string; the session stays`, async () => {
      const client = await connectV(5);
      const topic = refusal.topic?.(fixture) ?? eventTopic('bad-1');
      const puback = await publishForPuback(client.client, topic, refusal.payload);
      assert.equal(puback.reasonCode, refusal.code);
      assert.ok(puback.reasonString?.includes(refusal.reason), String(puback.reasonString));
      assert.equal(await deviceNamed('bad-1'), undefined, 'nothing was stored');
      // Still connected: the next good event is stored.
      assert.equal(
        (await publishForPuback(client.client, eventTopic('good-1'), '{"event_data":{"ok":1}}')).reasonCode,
        0,
      );
    });
  }

  test('MQTT 3.1.1: bad events get a plain PUBACK, are not stored, are counted on /metrics, and the connection stays', async () => {
    const client = await connectV(4);
    for (const payload of [oversized, 'hello', '{"observed_at":"2014-06-11T02:11:25Z"}']) {
      assert.equal((await publishForPuback(client.client, eventTopic('bad-311'), payload)).reasonCode, 0);
    }
    client.client.publish(eventTopic('bad-311'), '{"event_data":{},"observed_at":"soon"}', { qos: 0 });
    await roundTrip(client.client);
    assert.equal(client.client.connected, true);
    assert.equal(await deviceNamed('bad-311'), undefined);
    const metrics = await fixture.api('GET', '/metrics');
    const count = (kind: string): number => {
      const line = metrics.text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('switchboard_dialect_messages_total{') &&
            l.includes('dialect="mediumone"') &&
            l.includes(`kind="${kind}"`),
        );
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    assert.equal(count('event_refused_too_large'), 1);
    assert.equal(count('event_refused_invalid'), 3);
  });

  test('a device user may publish only under its own 0/<project>/<user>/: other users, projects and down topics get 0x87', async () => {
    const client = await connectV(5);
    const other = await fixture.project.createUser('neighbour');
    const otherProject = await fixture.createProject('other');
    const { mqttId: p } = fixture.project;
    const u = fixture.user.mqttId;
    for (const topic of [
      `0/${p}/${other.mqttId}/d1`,
      `0/${otherProject.mqttId}/${u}/d1`,
      `1/${p}/${u}/d1/event`,
      `1/${p}/${u}/_all/update/x`,
      `2/${p}/_all/x`,
    ]) {
      assert.equal((await publishForPuback(client.client, topic, '{"event_data":{}}')).reasonCode, 0x87, topic);
    }
    const devices = await fixture.platform.store.listDevices(fixture.project.orgId);
    assert.deepEqual(
      devices.filter((d) => d.name === 'd1'),
      [],
    );
  });
});
