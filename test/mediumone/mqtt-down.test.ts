/**
 * Messages to Medium One devices, end to end: what a device user may subscribe to (device-apis.md §4.2: its own
 * user's `1/…`, its project's `2/…`; devices of one user are not isolated, projects are), the management API's
 * `POST /api/mediumone/messages` publishing each documented down topic (updates retained), and groups.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { PROTOCOL_VERSIONS, Resources, runMosquitto } from '../helpers/index.js';
import { connectDeviceUser, roundTrip, subackCodes } from './clients.js';
import { startM1, type M1Fixture } from './harness.js';

let fixture: M1Fixture;
const resources = new Resources();

beforeEach(async () => {
  fixture = resources.add(await startM1());
});
afterEach(() => resources.closeAll());

async function send(body: Record<string, unknown>, token = fixture.project.adminToken) {
  return fixture.api('POST', '/api/mediumone/messages', { token, body });
}

describe('subscriptions', () => {
  for (const version of PROTOCOL_VERSIONS) {
    test(`a device user may subscribe to its user’s 1/<p>/<u>/… and its project’s 2/<p>/…, with any device id (MQTT ${version === 5 ? '5' : '3.1.1'})`, async () => {
      const { client } = resources.add(await connectDeviceUser(fixture, version));
      const p = fixture.project.mqttId;
      const u = fixture.user.mqttId;
      const granted = await subackCodes(client, [
        `1/${p}/${u}/oven-1/#`,
        `1/${p}/${u}/_all/#`,
        `1/${p}/${u}/#`,
        `1/${p}/${u}/+/event`,
        `2/${p}/_all/#`,
        `2/${p}/microwaves/#`,
        `2/${p}/#`,
      ]);
      assert.deepEqual(granted, [1, 1, 1, 1, 1, 1, 1]);
    });
  }

  test('other users’ and other projects’ topics, events up and first-level wildcards are refused (0x87, 3.1.1 0x80)', async () => {
    const other = await fixture.project.createUser('neighbour');
    const otherProject = await fixture.createProject('other');
    const p = fixture.project.mqttId;
    const u = fixture.user.mqttId;
    const filters = [
      `1/${p}/${other.mqttId}/#`,
      `1/${p}/+/#`,
      `1/${otherProject.mqttId}/${u}/#`,
      `2/${otherProject.mqttId}/#`,
      `2/+/_all/#`,
      `0/${p}/${u}/#`,
      `1/#`,
      '#',
      `+/${p}/#`,
    ];
    const v5 = resources.add(await connectDeviceUser(fixture, 5));
    assert.deepEqual(
      await subackCodes(v5.client, filters),
      filters.map(() => 0x87),
    );
    const v4 = resources.add(await connectDeviceUser(fixture, 4));
    assert.deepEqual(
      await subackCodes(v4.client, filters),
      filters.map(() => 0x80),
    );
  });
});

describe('POST /api/mediumone/messages', () => {
  test('each documented down topic reaches the subscribed device; updates are retained, events are not', async () => {
    const device = resources.add(await connectDeviceUser(fixture, 5));
    const p = fixture.project.mqttId;
    const u = fixture.user.mqttId;
    await subackCodes(device.client, [
      `1/${p}/${u}/oven-1/#`,
      `1/${p}/${u}/_all/#`,
      `2/${p}/_all/#`,
      `2/${p}/microwaves/#`,
    ]);
    const group = await fixture.api('POST', '/api/groups', {
      token: fixture.project.adminToken,
      body: { name: 'microwaves' },
    });
    assert.equal(group.status, 201);

    const requests: [Record<string, unknown>, string, boolean][] = [
      [
        { kind: 'event', user: fixture.user.id, device: 'oven-1', payload: 'bake 180' },
        `1/${p}/${u}/oven-1/event`,
        false,
      ],
      [
        { kind: 'update', user: u, device: 'oven-1', type: 'firmware', payload: { v: 2 } },
        `1/${p}/${u}/oven-1/update/firmware`,
        true,
      ],
      [{ kind: 'update', user: u, type: 'config', payload: { t: 5 } }, `1/${p}/${u}/_all/update/config`, true],
      [{ kind: 'update', type: 'notice', payload: 'maintenance' }, `2/${p}/_all/notice`, true],
      [{ kind: 'update', group: 'microwaves', type: 'recipe', payload: [1, 2] }, `2/${p}/microwaves/recipe`, true],
    ];
    for (const [body, topic, retained] of requests) {
      const response = await send(body);
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(
        {
          topic: (response.json as { topic: string }).topic,
          retained: (response.json as { retained: boolean }).retained,
        },
        { topic, retained },
      );
    }
    const messages = await device.waitForMessages(requests.length);
    assert.deepEqual(
      messages.map((m) => [m.topic, m.payload]),
      [
        [`1/${p}/${u}/oven-1/event`, 'bake 180'],
        [`1/${p}/${u}/oven-1/update/firmware`, '{"v":2}'],
        [`1/${p}/${u}/_all/update/config`, '{"t":5}'],
        [`2/${p}/_all/notice`, 'maintenance'],
        [`2/${p}/microwaves/recipe`, '[1,2]'],
      ],
    );

    // A device that subscribes later gets the retained updates (with the retain flag), not the event.
    const later = resources.add(await connectDeviceUser(fixture, 5));
    await subackCodes(later.client, [`1/${p}/${u}/#`, `2/${p}/#`]);
    const retained = await later.waitForMessages(4);
    await roundTrip(later.client);
    assert.deepEqual(
      later.messages.map((m) => m.topic).sort(),
      [
        `1/${p}/${u}/_all/update/config`,
        `1/${p}/${u}/oven-1/update/firmware`,
        `2/${p}/_all/notice`,
        `2/${p}/microwaves/recipe`,
      ].sort(),
    );
    assert.ok(retained.every((m) => m.packet.retain));
  });

  test('a retained project update survives a server restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'm1-restart-'));
    try {
      const first = await startM1({ dataDir });
      const project = first.project.mqttId;
      try {
        const sent = await first.api('POST', '/api/mediumone/messages', {
          token: first.project.adminToken,
          body: { kind: 'update', type: 'firmware', payload: { version: '2.1' } },
        });
        assert.equal(sent.status, 200);
      } finally {
        await first.close();
      }
      const second = resources.add(await startM1({ dataDir }));
      assert.equal(second.project.mqttId, project);
      const device = resources.add(await connectDeviceUser(second, 5));
      await subackCodes(device.client, [`2/${project}/_all/#`]);
      const [update] = await device.waitForMessages(1);
      assert.deepEqual(
        [update?.topic, update?.payload, update?.packet.retain],
        [`2/${project}/_all/firmware`, '{"version":"2.1"}', true],
      );
      await resources.closeAll();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('mosquitto_sub, logged in as the device user, gets the retained update of all the user’s devices', async () => {
    const p = fixture.project.mqttId;
    const u = fixture.user.mqttId;
    assert.equal((await send({ kind: 'update', user: u, type: 'schedule', payload: { at: '06:00' } })).status, 200);
    const run = runMosquitto('mosquitto_sub', fixture.server.mqttPort, [
      '-i',
      'm1-mosquitto-sub',
      '-u',
      fixture.project.usernameOf(fixture.user),
      '-P',
      fixture.project.passwordOf(fixture.user),
      '-t',
      `1/${p}/${u}/_all/#`,
      '-C',
      '1',
      '-v',
    ]);
    const result = await run.result;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), `1/${p}/${u}/_all/update/schedule {"at":"06:00"}`);
  });

  test('a device user of another project never sees this project’s messages', async () => {
    const otherProject = await fixture.createProject('other');
    const stranger = await otherProject.createUser('stranger');
    const mine = resources.add(await connectDeviceUser(fixture, 5));
    const theirs = resources.add(await connectDeviceUser(fixture, 5, { project: otherProject, user: stranger }));
    await subackCodes(mine.client, [`2/${fixture.project.mqttId}/#`]);
    await subackCodes(theirs.client, [`2/${otherProject.mqttId}/#`]);
    assert.equal((await send({ kind: 'update', type: 'mine', payload: 1 })).status, 200);
    assert.equal((await send({ kind: 'update', type: 'theirs', payload: 2 }, otherProject.adminToken)).status, 200);
    await mine.waitForMessages(1);
    await theirs.waitForMessages(1);
    await roundTrip(mine.client);
    await roundTrip(theirs.client);
    assert.deepEqual(
      mine.messages.map((m) => m.topic),
      [`2/${fixture.project.mqttId}/_all/mine`],
    );
    assert.deepEqual(
      theirs.messages.map((m) => m.topic),
      [`2/${otherProject.mqttId}/_all/theirs`],
    );
  });

  test('requests that name no topic are refused with 400, unknown users and groups with 404, viewers with 403', async () => {
    const u = fixture.user.mqttId;
    const bad: Record<string, unknown>[] = [
      { kind: 'event', user: u, payload: 1 },
      { kind: 'event', device: 'd1', payload: 1 },
      { kind: 'update', user: u, payload: 1 },
      { kind: 'update', user: u, group: 'g', type: 't', payload: 1 },
      { kind: 'update', user: u, device: 'a/b', type: 't', payload: 1 },
      { kind: 'update', type: 'a+b', payload: 1 },
      { kind: 'shout', type: 't', payload: 1 },
      { kind: 'update', type: 't' },
    ];
    for (const body of bad) {
      const response = await send(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal((response.json as { error: string }).error, 'INVALID_REQUEST');
    }
    assert.equal((await send({ kind: 'update', user: 'nobody', type: 't', payload: 1 })).status, 404);
    assert.equal((await send({ kind: 'update', group: 'nogroup', type: 't', payload: 1 })).status, 404);
    const otherProject = await fixture.createProject('other');
    const stranger = await otherProject.createUser('stranger');
    assert.equal((await send({ kind: 'update', user: stranger.id, type: 't', payload: 1 })).status, 404);
    const viewer = await fixture.api('POST', '/api/users', {
      token: fixture.project.adminToken,
      body: { username: 'viewer-1', password: 'viewer-password', role: 'viewer' },
    });
    assert.equal(viewer.status, 201);
    const login = await fixture.api('POST', '/api/auth/login', {
      body: { username: 'viewer-1', password: 'viewer-password' },
    });
    const viewerToken = (login.json as { token: string }).token;
    assert.equal((await send({ kind: 'update', type: 't', payload: 1 }, viewerToken)).status, 403);
    assert.equal(
      (await fixture.api('POST', '/api/mediumone/messages', { body: { kind: 'update', type: 't', payload: 1 } }))
        .status,
      401,
    );
  });
});

describe('groups', () => {
  test('a group is created by name, holds devices of the organization, and is listed with them', async () => {
    const token = fixture.project.adminToken;
    const created = await fixture.api('POST', '/api/groups', { token, body: { name: 'MT-2014A' } });
    assert.equal(created.status, 201);
    const group = created.json as { id: string; name: string; devices: string[] };
    assert.equal(group.name, 'MT-2014A');
    assert.deepEqual(group.devices, []);
    const device = await fixture.api('POST', '/api/devices', { token, body: { name: 'microwave-7' } });
    assert.equal(device.status, 201);
    const deviceId = (device.json as { id: string }).id;
    assert.equal((await fixture.api('PUT', `/api/groups/${group.id}/devices/${deviceId}`, { token })).status, 204);
    assert.equal((await fixture.api('PUT', `/api/groups/${group.id}/devices/${deviceId}`, { token })).status, 204);
    const read = await fixture.api('GET', `/api/groups/${group.id}`, { token });
    assert.deepEqual((read.json as { devices: string[] }).devices, [deviceId]);
    const byName = await fixture.api('GET', '/api/groups/MT-2014A', { token });
    assert.equal((byName.json as { id: string }).id, group.id);
    const list = await fixture.api('GET', '/api/groups', { token });
    assert.deepEqual(
      (list.json as { name: string }[]).map((g) => g.name),
      ['MT-2014A'],
    );

    // A deleted device leaves its groups.
    assert.equal((await fixture.api('DELETE', `/api/devices/${deviceId}`, { token })).status, 204);
    const after = await fixture.api('GET', `/api/groups/${group.id}`, { token });
    assert.deepEqual((after.json as { devices: string[] }).devices, []);
    assert.equal((await fixture.api('DELETE', `/api/groups/${group.id}`, { token })).status, 204);
    assert.equal((await fixture.api('GET', `/api/groups/${group.id}`, { token })).status, 404);
  });

  test('group names are topic levels, unique per organization; _all is reserved; other organizations’ devices are not found', async () => {
    const token = fixture.project.adminToken;
    assert.equal((await fixture.api('POST', '/api/groups', { token, body: { name: 'ovens' } })).status, 201);
    assert.equal((await fixture.api('POST', '/api/groups', { token, body: { name: 'ovens' } })).status, 409);
    for (const name of ['_all', 'a/b', 'a#', '']) {
      assert.equal((await fixture.api('POST', '/api/groups', { token, body: { name } })).status, 400, name);
    }
    const other = await fixture.createProject('other');
    // The same name in another organization is another group.
    const theirs = await fixture.api('POST', '/api/groups', { token: other.adminToken, body: { name: 'ovens' } });
    assert.equal(theirs.status, 201);
    const theirDevice = await fixture.api('POST', '/api/devices', { token: other.adminToken, body: { name: 'x' } });
    const mine = await fixture.api('GET', '/api/groups/ovens', { token });
    const groupId = (mine.json as { id: string }).id;
    const deviceId = (theirDevice.json as { id: string }).id;
    assert.equal((await fixture.api('PUT', `/api/groups/${groupId}/devices/${deviceId}`, { token })).status, 404);
    assert.equal(
      (await fixture.api('GET', `/api/groups/${(theirs.json as { id: string }).id}`, { token })).status,
      404,
    );
  });
});
