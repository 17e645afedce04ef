/**
 * `GET /api/events` against a whole server (SQLite): a CloudPlugs thing's records and a Medium One device's events,
 * both sent over MQTT, come back from one management API query beside a ThingsBoard device's telemetry; another
 * organization sees none of them; bad parameters are a 400 with the API's error JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { connectDeviceUser } from '../mediumone/clients.js';
import { startM1, type M1Fixture, type Project } from '../mediumone/harness.js';

interface EventJson {
  id: string;
  deviceId: string;
  stream: string;
  at: number;
  atText: string | null;
  data: unknown;
  expiresAt: number | null;
}

let fixture: M1Fixture;
const resources = new Resources();

/** A CloudPlugs thing made through the management API (a template of the project's organization, then the thing). */
async function createThing(project: Project, hwid: string): Promise<{ id: string; plugId: string; auth: string }> {
  const template = await fixture.api('POST', '/api/profiles', {
    token: project.adminToken,
    body: { name: `model-${hwid}`, cloudplugs: { enrollSecret: `secret-${hwid}` } },
  });
  assert.equal(template.status, 201, template.text);
  const created = await fixture.api('POST', '/api/devices', {
    token: project.adminToken,
    body: {
      name: `thing ${hwid}`,
      profile: (template.json as { id: string }).id,
      hwid,
      credentials: { type: 'CLOUDPLUGS' },
    },
  });
  assert.equal(created.status, 201, created.text);
  const body = created.json as { id: string; credentials: { plugId: string; auth: string } };
  return { id: body.id, plugId: body.credentials.plugId, auth: body.credentials.auth };
}

async function events(query: string, token = fixture.project.adminToken): Promise<EventJson[]> {
  const answer = await fixture.api('GET', `/api/events${query}`, { token });
  assert.equal(answer.status, 200, answer.text);
  return answer.json as EventJson[];
}

describe('GET /api/events', () => {
  let thing: { id: string; plugId: string; auth: string };
  let m1DeviceId: string;
  let tbDeviceId: string;
  let other: Project;
  let otherThing: { id: string; plugId: string; auth: string };

  before(async () => {
    fixture = await startM1();
    const { project } = fixture;
    thing = await createThing(project, 'EV-CP');
    const plugs = resources.add(
      await connectClient(fixture.server.mqttUrl, {
        clientId: 'EV-CP/t',
        username: thing.plugId,
        password: thing.auth,
      }),
    );
    // PUBACKs come after the commit (docs/cloudplugs.md, docs/mediumone.md): once acknowledged, it is queryable.
    await plugs.client.publishAsync(`${thing.plugId}/data/temperature`, '{"data": 21.5, "at": 1700000000000}', {
      qos: 1,
    });
    await plugs.client.publishAsync(`${thing.plugId}/data/door`, '{"data": "open", "at": 1700000002000, "ttl": 3600}', {
      qos: 1,
    });

    const m1 = resources.add(await connectDeviceUser(fixture, 5));
    await m1.client.publishAsync(
      `0/${project.mqttId}/${fixture.user.mqttId}/oven-1`,
      '{"event_data": {"temperature": 180}, "observed_at": "2023-11-14T22:13:21.000123Z", "stream": "kitchen"}',
      { qos: 1 },
    );
    const oven = await fixture.platform.store.getDeviceByName(project.orgId, 'oven-1');
    assert.ok(oven !== undefined);
    m1DeviceId = oven.id;

    const tb = await fixture.api('POST', '/api/devices', { token: project.adminToken, body: { name: 'ev-tb' } });
    assert.equal(tb.status, 201, tb.text);
    const tbBody = tb.json as { id: string; credentials: { accessToken: string } };
    tbDeviceId = tbBody.id;
    const tbClient = resources.add(
      await connectClient(fixture.server.mqttUrl, { clientId: 'ev-tb', username: tbBody.credentials.accessToken }),
    );
    await tbClient.client.publishAsync(
      'v1/devices/me/telemetry',
      '{"ts": 1700000001000, "values": {"temperature": 25}}',
      {
        qos: 1,
      },
    );

    other = await fixture.createProject('events-other');
    otherThing = await createThing(other, 'EV-OTHER');
    const outsider = resources.add(
      await connectClient(fixture.server.mqttUrl, {
        clientId: 'EV-OTHER/t',
        username: otherThing.plugId,
        password: otherThing.auth,
      }),
    );
    await outsider.client.publishAsync(`${otherThing.plugId}/data/temperature`, '{"data": -1, "at": 1700000000500}', {
      qos: 1,
    });
  });
  after(async () => {
    await resources.closeAll();
    await fixture.close();
  });

  it('answers a CloudPlugs thing’s records and a Medium One device’s events in one query, newest first', async () => {
    const found = await events('');
    assert.deepEqual(
      found.map((e) => [e.deviceId, e.stream, e.data]),
      [
        [thing.id, 'door', 'open'],
        [m1DeviceId, 'kitchen', { temperature: 180, device_id: 'oven-1' }],
        [thing.id, 'temperature', 21.5],
      ],
    );
    const [door, oven] = found;
    assert.equal(door?.at, 1700000002000);
    assert.equal(door?.expiresAt !== null && door !== undefined && door.expiresAt > Date.now(), true);
    // Medium One's microseconds survive in atText; the CloudPlugs record without a text time has none.
    assert.equal(oven?.atText, '2023-11-14T22:13:21.000123Z');
    assert.equal(oven?.at, 1700000001000);
    assert.match(door?.id ?? '', /^[0-9a-f]{24}$/);
  });

  it('filters by device (repeated or CSV), stream, time window, order, limit and offset', async () => {
    const streams = (found: EventJson[]) => found.map((e) => e.stream);
    assert.deepEqual(streams(await events(`?device=${thing.id}`)), ['door', 'temperature']);
    assert.deepEqual(streams(await events(`?device=${thing.id}&device=${m1DeviceId}&order=asc`)), [
      'temperature',
      'kitchen',
      'door',
    ]);
    assert.deepEqual(streams(await events(`?device=${thing.id},${m1DeviceId}&limit=1`)), ['door']);
    assert.deepEqual(streams(await events('?stream=kitchen')), ['kitchen']);
    assert.deepEqual(streams(await events('?since=1700000001000&until=1700000002000')), ['kitchen']);
    assert.deepEqual(streams(await events('?since=2023-11-14T22:13:21.000Z&order=ASC')), ['kitchen', 'door']);
    assert.deepEqual(streams(await events('?order=asc&offset=1&limit=1')), ['kitchen']);
    // A ThingsBoard device writes telemetry, not events: asked for, it has none.
    assert.deepEqual(await events(`?device=${tbDeviceId}`), []);
  });

  it('all three dialects’ devices answer the telemetry query alike', async () => {
    for (const [deviceId, value] of [
      [thing.id, 21.5],
      [m1DeviceId, 180],
      [tbDeviceId, 25],
    ] as const) {
      const range = await fixture.api('GET', `/api/devices/${deviceId}/telemetry?keys=temperature&startTs=0`, {
        token: fixture.project.adminToken,
      });
      assert.equal(range.status, 200, range.text);
      assert.deepEqual(
        (range.json as Record<string, { value: unknown }[]>)['temperature']?.map((p) => p.value),
        [value],
      );
    }
  });

  it('keeps each organization to its own events: another’s device is a 404, its query sees only its own', async () => {
    const ours = await events('');
    assert.equal(
      ours.some((e) => e.deviceId === otherThing.id),
      false,
    );
    const theirs = await events('', other.adminToken);
    assert.deepEqual(
      theirs.map((e) => [e.deviceId, e.data]),
      [[otherThing.id, -1]],
    );
    for (const query of [`?device=${thing.id}`, `?device=${otherThing.id},${thing.id}`]) {
      const answer = await fixture.api('GET', `/api/events${query}`, { token: other.adminToken });
      assert.equal(answer.status, 404, query);
      assert.equal((answer.json as { error: string }).error, 'NOT_FOUND');
    }
    const anonymous = await fixture.api('GET', '/api/events');
    assert.equal(anonymous.status, 401);
  });

  it('answers 400 with the API’s error JSON for bad parameters', async () => {
    const tooMany = Array.from({ length: 101 }, (_, i) => `d${String(i)}`).join(',');
    for (const query of [
      '?limit=0',
      '?limit=1001',
      '?limit=ten',
      '?offset=-1',
      '?order=sideways',
      '?since=yesterday',
      '?until=2023-11-14T22:13:21',
      '?since=20&until=10',
      '?since=10&until=10',
      '?device=',
      `?device=${thing.id},,x`,
      `?device=${tooMany}`,
      '?devices=x',
      '?stream=',
    ]) {
      const answer = await fixture.api('GET', `/api/events${query}`, { token: fixture.project.adminToken });
      assert.equal(answer.status, 400, `${query}: ${answer.text}`);
      const body = answer.json as { error: string; message: string };
      assert.equal(body.error, 'INVALID_REQUEST', query);
      assert.equal(typeof body.message, 'string');
    }
  });

  it('is listed in the OpenAPI document', async () => {
    const docs = await fixture.api('GET', '/api/docs/json');
    const paths = (docs.json as { paths: Record<string, unknown> }).paths;
    assert.ok(paths['/api/events'] !== undefined);
  });
});
