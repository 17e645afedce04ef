/**
 * Medium One's REST equivalents (device-apis.md §4.4) end to end: login, newline-delimited event upload, event queries
 * with since/until/limit/sort, and their failures; events sent over REST and MQTT are one history.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Resources } from '../helpers/index.js';
import { connectDeviceUser, publishForPuback } from './clients.js';
import { startM1, type M1Fixture } from './harness.js';

let fixture: M1Fixture;
const resources = new Resources();

beforeEach(async () => {
  fixture = resources.add(await startM1({ mediumone: { maxUploadBytes: 4_096 } }));
});
afterEach(() => resources.closeAll());

/** Logs in; returns the session cookie. */
async function login(user = fixture.user, apiKey = fixture.project.apiKey): Promise<string> {
  const response = await fixture.api('POST', '/v2/login', {
    body: { login_id: user.username, password: user.password, api_key: apiKey },
  });
  assert.equal(response.status, 200, response.text);
  assert.equal(response.json, true);
  const cookie = response.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^mediumone_session=[^;]+; Path=\/v2; HttpOnly/);
  return cookie.split(';')[0]!;
}

function upload(cookie: string, body: string, stream = 'raw', loginId = fixture.user.username) {
  return fixture.api('POST', `/v2/events/${stream}/${loginId}`, {
    raw: body,
    headers: { cookie, 'content-type': 'application/json' },
  });
}

function query(cookie: string, params = '', stream = 'raw', loginId = fixture.user.username) {
  return fixture.api('GET', `/v2/events/${stream}/${loginId}${params}`, { headers: { cookie } });
}

const run = promisify(execFile);

interface QueriedEvent {
  observed_at: string;
  stream: string;
  event_data: Record<string, unknown>;
}

describe('REST login', () => {
  test('a login with login_id, password and api_key opens a session; no_cookies returns the token instead', async () => {
    await login();
    const response = await fixture.api('POST', '/v2/login', {
      body: {
        login_id: fixture.user.username,
        password: fixture.user.password,
        api_key: fixture.project.apiKey,
        no_cookies: true,
      },
    });
    assert.equal(response.status, 200);
    const token = (response.json as { token: string }).token;
    assert.equal(response.headers.get('set-cookie'), null);
    const queried = await fixture.api('GET', `/v2/events/raw/${fixture.user.username}`, { token });
    assert.equal(queried.status, 200);
    assert.deepEqual(queried.json, []);
  });

  test('a wrong password or API key is 401, a missing field 400', async () => {
    const { username, password } = fixture.user;
    const apiKey = fixture.project.apiKey;
    for (const body of [
      { login_id: username, password: 'wrong-password', api_key: apiKey },
      { login_id: username, password, api_key: `sbk_${'y'.repeat(32)}` },
      { login_id: 'nobody', password, api_key: apiKey },
    ]) {
      const response = await fixture.api('POST', '/v2/login', { body });
      assert.equal(response.status, 401, JSON.stringify(body));
      assert.equal((response.json as { error: string }).error, 'UNAUTHORIZED');
    }
    const missing = await fixture.api('POST', '/v2/login', { body: { login_id: username, password } });
    assert.equal(missing.status, 400);
  });
});

describe('REST events', () => {
  test('newline-delimited events are stored (200 with the count) and queried back with their microseconds', async () => {
    const cookie = await login();
    const body = [
      '{"event_data":{"temp":20,"device_id":"oven-1"},"observed_at":"2014-06-11T02:11:25.076001Z"}',
      '',
      '{"event_data":{"temp":21},"observed_at":"2016-02-16T15:14:08-08:00"}',
      '{"event_data":{"temp":22,"device_id":"oven-1"},"observed_at":"2015-01-01T00:00:00.000001Z","add_client_ip":true}',
    ].join('\n');
    const uploaded = await upload(cookie, body);
    assert.equal(uploaded.status, 200, uploaded.text);
    assert.equal(uploaded.json, 3);

    const all = await query(cookie);
    assert.equal(all.status, 200);
    const events = all.json as QueriedEvent[];
    assert.deepEqual(
      events.map((e) => e.observed_at),
      ['2014-06-11T02:11:25.076001Z', '2015-01-01T00:00:00.000001Z', '2016-02-16T15:14:08-08:00'],
    );
    assert.deepEqual(events[0]!.event_data, { temp: 20, device_id: 'oven-1' });
    assert.equal(events[1]!.event_data['ip_address'], '127.0.0.1');
    assert.deepEqual(events[2]!.event_data, { temp: 21 }, 'no device_id: the user’s own device');

    const oven = await fixture.platform.store.getDeviceByName(fixture.project.orgId, 'oven-1');
    assert.ok(oven !== undefined, 'device_id names the device, as over MQTT');
    const own = await fixture.platform.store.getDeviceByName(fixture.project.orgId, `user/${fixture.user.mqttId}`);
    assert.ok(own !== undefined);
  });

  test('since, until (inclusive), limit and sort_direction select and order the events', async () => {
    const cookie = await login();
    const lines = [1, 2, 3, 4, 5].map(
      (day) => `{"event_data":{"day":${day}},"observed_at":"2020-01-0${day}T00:00:00.000000Z"}`,
    );
    assert.equal((await upload(cookie, lines.join('\n'))).status, 200);
    const days = async (params: string): Promise<number[]> => {
      const response = await query(cookie, params);
      assert.equal(response.status, 200, response.text);
      return (response.json as QueriedEvent[]).map((e) => e.event_data['day'] as number);
    };
    assert.deepEqual(await days(''), [1, 2, 3, 4, 5]);
    assert.deepEqual(await days('?sort_direction=desc'), [5, 4, 3, 2, 1]);
    assert.deepEqual(await days('?since=2020-01-02T00:00:00Z&until=2020-01-04T00:00:00Z'), [2, 3, 4]);
    assert.deepEqual(await days('?since=2020-01-02T01:00:00%2B01:00&limit=2'), [2, 3]);
    assert.deepEqual(await days('?sort_by=observed_at&sort_direction=desc&limit=1'), [5]);
    // Another stream holds none of them.
    assert.deepEqual((await query(cookie, '', 'other')).json, []);
  });

  test('REST and MQTT events of one user are one history', async () => {
    const client = resources.add(await connectDeviceUser(fixture, 5));
    const topic = `0/${fixture.project.mqttId}/${fixture.user.mqttId}/oven-1`;
    const puback = await publishForPuback(
      client.client,
      topic,
      '{"event_data":{"via":"mqtt"},"observed_at":"2020-01-01T00:00:00Z"}',
    );
    assert.equal(puback.reasonCode, 0);
    const cookie = await login();
    assert.equal(
      (await upload(cookie, '{"event_data":{"via":"rest","device_id":"oven-1"},"observed_at":"2020-01-02T00:00:00Z"}'))
        .status,
      200,
    );
    const events = (await query(cookie)).json as QueriedEvent[];
    assert.deepEqual(
      events.map((e) => e.event_data),
      [
        { via: 'mqtt', device_id: 'oven-1' },
        { via: 'rest', device_id: 'oven-1' },
      ],
    );
  });

  test('a bad line is a 400 naming it and nothing of the upload is stored', async () => {
    const cookie = await login();
    const body = ['{"event_data":{"ok":1}}', '{"event_data":{"ok":2},"observed_at":"2020-01-01T00:00:00"}'].join('\n');
    const response = await upload(cookie, body);
    assert.equal(response.status, 400);
    assert.deepEqual(response.json, {
      error: 'INVALID_REQUEST',
      message: 'line 2: "observed_at" "2020-01-01T00:00:00" has no time zone (add Z or an offset such as +01:00)',
    });
    assert.equal((await upload(cookie, '{"no":"event_data"}')).status, 400);
    assert.equal((await upload(cookie, '\n\n')).status, 400);
    assert.deepEqual((await query(cookie)).json, []);
  });

  test('without a session 401, for another user’s login id 403, over the upload limit 413, bad query parameters 400', async () => {
    const event = '{"event_data":{"a":1}}';
    assert.equal((await upload('mediumone_session=forged', event)).status, 401);
    assert.equal((await query('')).status, 401);
    const cookie = await login();
    const neighbour = await fixture.project.createUser('neighbour');
    assert.equal((await upload(cookie, event, 'raw', neighbour.username)).status, 403);
    assert.equal((await query(cookie, '', 'raw', neighbour.username)).status, 403);
    const tooBig = Array.from({ length: 200 }, () => event).join('\n');
    const response = await upload(cookie, tooBig);
    assert.equal(response.status, 413);
    assert.equal((response.json as { error: string }).error, 'PAYLOAD_TOO_LARGE');
    for (const params of [
      '?since=yesterday',
      '?until=2020-01-01',
      '?limit=10001',
      '?limit=0',
      '?sort_by=size',
      '?sort_direction=up',
    ]) {
      assert.equal((await query(cookie, params)).status, 400, params);
    }
    assert.equal((await query(cookie, '', 'a+b')).status, 400);
  });
});

describe('REST with curl', () => {
  test('curl logs in with a cookie jar, uploads an NDJSON file and reads the events back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm1-curl-'));
    try {
      const jar = join(dir, 'cookies.txt');
      const file = join(dir, 'events.ndjson');
      writeFileSync(
        file,
        '{"event_data":{"temp":20},"observed_at":"2014-06-11T02:11:25.076001Z"}\n' +
          '{"event_data":{"temp":21},"observed_at":"2014-06-11T02:11:26.076001Z"}\n',
      );
      const base = fixture.server.httpUrl;
      const login = JSON.stringify({
        login_id: fixture.user.username,
        password: fixture.user.password,
        api_key: fixture.project.apiKey,
      });
      const curl = (...args: string[]) => run('/usr/bin/curl', ['-sS', '--fail-with-body', ...args]);
      const loggedIn = await curl('-c', jar, '-H', 'Content-Type: application/json', '-d', login, `${base}/v2/login`);
      assert.equal(loggedIn.stdout, 'true');
      const path = `/v2/events/raw/${fixture.user.username}`;
      const uploaded = await curl(
        '-b',
        jar,
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        `@${file}`,
        base + path,
      );
      assert.equal(uploaded.stdout, '2');
      const queried = await curl('-b', jar, `${base}${path}?sort_direction=desc&limit=1`);
      const events = JSON.parse(queried.stdout) as QueriedEvent[];
      assert.deepEqual(
        events.map((e) => [e.observed_at, e.event_data]),
        [['2014-06-11T02:11:26.076001Z', { temp: 21 }]],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
