/**
 * The Medium One tables (groups, memberships, users' devices) on both platform stores, and the dialect end to end on
 * PostgreSQL. PostgreSQL is `SWITCHBOARD_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/test), each run in its
 * own schema, dropped afterwards; when it cannot be reached those suites are skipped with the reason.
 */
import { PG_TEST_URL, postgresSkipReason } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import pg from 'pg';
import { MEDIUMONE_SCHEMA, MediumOneTables } from '../../src/dialects/mediumone/tables.js';
import { Platform } from '../../src/platform/platform.js';
import { PostgresPlatformStore, SqlitePlatformStore, type PlatformStore } from '../../src/storage/platform/index.js';
import { Resources } from '../helpers/index.js';
import { connectDeviceUser, publishForPuback, subackCodes } from './clients.js';
import { startM1 } from './harness.js';

const url = PG_TEST_URL;

const skipReason = await postgresSkipReason();
if (skipReason !== undefined) console.log(`# skipping the PostgreSQL suites: ${skipReason}`);
const admin = skipReason === undefined ? new pg.Pool({ connectionString: url, max: 2 }) : undefined;
after(() => admin?.end());

const newSchema = (): string => `sb_m1_${randomBytes(6).toString('hex')}`;

interface Opened {
  store: PlatformStore;
  cleanup(): Promise<void>;
}

const stores: { name: string; skip: string | undefined; open(): Promise<Opened> }[] = [
  {
    name: 'SQLite',
    skip: undefined,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-m1-'));
      const store = await SqlitePlatformStore.open(join(dir, 'platform.db'));
      return {
        store,
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: skipReason,
    open: async () => {
      const schema = newSchema();
      const store = await PostgresPlatformStore.open(url, { schema, maxConnections: 4 });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await admin!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        },
      };
    },
  },
];

for (const kind of stores) {
  describe(`Medium One tables on ${kind.name}`, { skip: kind.skip }, () => {
    let opened: Opened;
    let platform: Platform;
    let tables: MediumOneTables;
    beforeEach(async () => {
      opened = await kind.open();
      platform = new Platform({ store: opened.store, logger: pino({ level: 'silent' }) });
      tables = new MediumOneTables(await opened.store.openModule(MEDIUMONE_SCHEMA));
    });
    afterEach(() => opened.cleanup());

    test('groups are unique by name per organization and found by id or name', async () => {
      const org = await platform.entities.createOrganization({ name: 'a' });
      const other = await platform.entities.createOrganization({ name: 'b' });
      const group = await tables.createGroup(org.id, 'microwaves');
      await assert.rejects(tables.createGroup(org.id, 'microwaves'), { code: 'DUPLICATE' });
      const elsewhere = await tables.createGroup(other.id, 'microwaves');
      assert.notEqual(elsewhere.id, group.id);
      assert.deepEqual(await tables.findGroup(org.id, group.id), group);
      assert.deepEqual(await tables.findGroup(org.id, 'microwaves'), group);
      assert.equal(await tables.findGroup(org.id, elsewhere.id), undefined);
      assert.equal(typeof group.createdAt, 'number');
      assert.deepEqual(
        (await tables.listGroups(org.id)).map((g) => g.name),
        ['microwaves'],
      );
    });

    test('memberships follow devices and groups: deleting either removes them; reopening keeps the data', async () => {
      const org = await platform.entities.createOrganization({ name: 'a' });
      const group = await tables.createGroup(org.id, 'ovens');
      const a = (await platform.entities.createDevice(org.id, { name: 'a' })).device;
      const b = (await platform.entities.createDevice(org.id, { name: 'b' })).device;
      assert.equal(await tables.addDevice(group.id, a.id), true);
      assert.equal(await tables.addDevice(group.id, a.id), false);
      assert.equal(await tables.addDevice(group.id, b.id), true);
      assert.deepEqual((await tables.groupDeviceIds(group.id, org.id)).sort(), [a.id, b.id].sort());
      await platform.entities.deleteDevice(org.id, a.id);
      assert.deepEqual(await tables.groupDeviceIds(group.id, org.id), [b.id]);
      // The module's migration ran once: opening it again finds the tables and their rows.
      const again = new MediumOneTables(await opened.store.openModule(MEDIUMONE_SCHEMA));
      assert.deepEqual(await again.groupDeviceIds(group.id, org.id), [b.id]);
      assert.equal(await tables.removeDevice(group.id, b.id), true);
      assert.equal(await tables.removeDevice(group.id, b.id), false);
      await tables.addDevice(group.id, b.id);
      assert.equal(await tables.deleteGroup(org.id, group.id), true);
      assert.equal(await tables.findGroup(org.id, group.id), undefined);
    });

    test('a user’s devices are recorded once and vanish with the user or the organization', async () => {
      const org = await platform.entities.createOrganization({ name: 'a' });
      const user = await platform.entities.createUser(org.id, { username: 'u', passwordHash: 'x', role: 'operator' });
      const device = (await platform.entities.createDevice(org.id, { name: 'd' })).device;
      await tables.linkUserDevice(user.id, device.id);
      await tables.linkUserDevice(user.id, device.id);
      assert.deepEqual(await tables.userDeviceIds(user.id, org.id), [device.id]);
      await tables.createGroup(org.id, 'g');
      await platform.entities.deleteUser(org.id, user.id);
      assert.deepEqual(await tables.userDeviceIds(user.id, org.id), []);
      await platform.entities.deleteOrganization(org.id);
      assert.deepEqual(await tables.listGroups(org.id), []);
    });
  });
}

describe('the Medium One dialect on PostgreSQL', { skip: skipReason }, () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  test('events up, REST queries, groups and down messages work with the platform store on PostgreSQL', async () => {
    const schema = newSchema();
    resources.add({ close: () => admin!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) });
    const fixture = resources.add(await startM1({ database: { url, schema } }));
    const { project, user } = fixture;
    const client = resources.add(await connectDeviceUser(fixture, 5));
    const topic = `0/${project.mqttId}/${user.mqttId}/oven-1`;
    const payload = '{"event_data":{"t":180},"observed_at":"2014-06-11T02:11:25.076001Z"}';
    assert.equal((await publishForPuback(client.client, topic, payload)).reasonCode, 0);

    const login = await fixture.api('POST', '/v2/login', {
      body: { login_id: user.username, password: user.password, api_key: project.apiKey, no_cookies: true },
    });
    const token = (login.json as { token: string }).token;
    const events = await fixture.api('GET', `/v2/events/raw/${user.username}`, { token });
    assert.deepEqual(events.json, [
      {
        id: (events.json as { id: string }[])[0]!.id,
        stream: 'raw',
        observed_at: '2014-06-11T02:11:25.076001Z',
        event_data: { t: 180, device_id: 'oven-1' },
      },
    ]);

    const device = await fixture.platform.store.getDeviceByName(project.orgId, 'oven-1');
    const group = await fixture.api('POST', '/api/groups', { token: project.adminToken, body: { name: 'ovens' } });
    const groupId = (group.json as { id: string }).id;
    assert.equal(
      (await fixture.api('PUT', `/api/groups/${groupId}/devices/${device!.id}`, { token: project.adminToken })).status,
      204,
    );
    assert.deepEqual(
      (
        (await fixture.api('GET', `/api/groups/${groupId}`, { token: project.adminToken })).json as {
          devices: string[];
        }
      ).devices,
      [device!.id],
    );
    await subackCodes(client.client, [`2/${project.mqttId}/ovens/#`]);
    const sent = await fixture.api('POST', '/api/mediumone/messages', {
      token: project.adminToken,
      body: { kind: 'update', group: 'ovens', type: 'recipe', payload: { temp: 200 } },
    });
    assert.equal(sent.status, 200);
    const [message] = await client.waitForMessages(1);
    assert.deepEqual([message?.topic, message?.payload], [`2/${project.mqttId}/ovens/recipe`, '{"temp":200}']);
  });
});
