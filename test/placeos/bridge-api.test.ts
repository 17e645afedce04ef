/**
 * `POST/GET/PATCH/DELETE /api/bridges` over real HTTP, with the records in the platform store (SQLite and
 * PostgreSQL) and the bridges connecting to this machine's Mosquitto.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { BRIDGE_SCHEMA } from '../../src/dialects/placeos/bridges/index.js';
import { Resources, waitFor } from '../helpers/index.js';
import {
  cleaningSubscriber,
  mosquittoSubscribe,
  postgresUnreachable,
  startBridgeApi,
  startGate,
  startHoldingBroker,
  SYSTEM_MOSQUITTO,
  uniquePrefix,
  type BridgeApi,
  type StoreKind,
} from './bridge-helpers.js';

const resources = new Resources();
const pgSkip = await postgresUnreachable();

interface BridgeBody {
  id: string;
  secret?: string;
  name: string;
  topicPrefix: string;
  status: { connected: boolean; connectedAt: number | null; sent: number; protocolVersion: string | null };
  [key: string]: unknown;
}

afterEach(async () => {
  await resources.closeAll();
});

async function api(kind: StoreKind): Promise<BridgeApi> {
  const started = await startBridgeApi(kind);
  resources.add({ close: () => started.close() });
  return started;
}

async function bridgeOf(server: BridgeApi, id: string): Promise<BridgeBody> {
  const response = await server.request('GET', `/api/bridges/${id}`);
  assert.equal(response.status, 200);
  return response.json as BridgeBody;
}

const topic = (orgId: string, key: string): string => `placeos/${orgId}/state/b/l/a/sys-1/dep-123/Display/1/${key}`;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`bridges API on ${kind}`, kind === 'postgres' && pgSkip !== undefined ? { skip: pgSkip } : {}, () => {
    test('POST creates a bridge (201, secret shown once) that connects and republishes its organization', async () => {
      const server = await api(kind);
      const prefix = uniquePrefix('api-create');
      server.feed.set(server.orgId, topic(server.orgId, 'power'), true);
      server.feed.set('another-org', topic('another-org', 'power'), false);
      const created = await server.request('POST', '/api/bridges', {
        name: 'cloud',
        host: '127.0.0.1',
        port: SYSTEM_MOSQUITTO,
        username: 'bridge-user',
        password: 'bridge-password',
        topicPrefix: prefix,
      });
      assert.equal(created.status, 201);
      const body = created.json as BridgeBody;
      assert.match(body.secret ?? '', /^[0-9a-f]{64}$/);
      assert.deepEqual(
        {
          tls: body['tls'],
          rejectUnauthorized: body['rejectUnauthorized'],
          qos: body['qos'],
          clientId: body['clientId'],
          username: body['username'],
          hasPassword: body['hasPassword'],
          hasKey: body['hasKey'],
          filters: body['filters'],
        },
        {
          tls: false,
          rejectUnauthorized: true,
          qos: 0,
          clientId: null,
          username: 'bridge-user',
          hasPassword: true,
          hasKey: false,
          filters: [],
        },
      );
      assert.ok(!('password' in body) && !('key' in body));

      const lines = await mosquittoSubscribe(SYSTEM_MOSQUITTO, `${prefix}/#`, 1);
      assert.equal(lines[0]?.topic, `${prefix}/${topic(server.orgId, 'power')}`);
      const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
      await client.waitForMessages(1);
      const status = (await bridgeOf(server, body.id)).status;
      assert.equal(status.connected, true);
      assert.equal(status.protocolVersion, '5.0');
      assert.equal(status.sent, 1, "the other organization's entry is not sent");
    });

    test('a bridge connects as switchboard-<id> with its credentials unless a client id is given', async () => {
      const server = await api(kind);
      const target = await startHoldingBroker(10);
      resources.add(target);
      const base = { host: '127.0.0.1', port: target.port, username: 'cloud-user', password: 'cloud-pass' };
      const byDefault = await server.request('POST', '/api/bridges', { ...base, name: 'default-id' });
      const named = await server.request('POST', '/api/bridges', { ...base, name: 'named', clientId: 'site-1-bridge' });
      await waitFor(() => target.connects.length === 2, 'both CONNECTs');
      assert.deepEqual(
        target.connects.map((packet) => [packet.clientId, packet.username, packet.password?.toString()]).sort(),
        [
          [`switchboard-${(byDefault.json as BridgeBody).id}`, 'cloud-user', 'cloud-pass'],
          ['site-1-bridge', 'cloud-user', 'cloud-pass'],
        ].sort(),
      );
      assert.equal((named.json as BridgeBody)['clientId'], 'site-1-bridge');
    });

    test('GET never shows the password, key or secret; reading needs operator, changing needs admin', async () => {
      const server = await api(kind);
      const created = await server.request('POST', '/api/bridges', {
        name: 'secretive',
        host: '127.0.0.1',
        port: SYSTEM_MOSQUITTO,
        username: 'u',
        password: 'very-secret-password',
        topicPrefix: uniquePrefix('api-secret'),
      });
      const { id, secret } = created.json as BridgeBody;
      const list = await server.request('GET', '/api/bridges');
      const one = await server.request('GET', `/api/bridges/${id}`);
      for (const response of [list, one]) {
        assert.equal(response.status, 200);
        const text = JSON.stringify(response.json);
        assert.ok(!text.includes('very-secret-password') && !text.includes(secret!));
      }
      assert.equal((list.json as unknown[]).length, 1);

      const operator = await server.userToken('operator');
      const viewer = await server.userToken('viewer');
      assert.equal((await server.request('GET', `/api/bridges/${id}`, undefined, operator)).status, 200);
      assert.equal((await server.request('GET', '/api/bridges', undefined, viewer)).status, 403);
      const write = { name: 'x', host: '127.0.0.1', port: 1883 };
      assert.equal((await server.request('POST', '/api/bridges', write, operator)).status, 403);
      assert.equal((await server.request('PATCH', `/api/bridges/${id}`, { name: 'y' }, operator)).status, 403);
      assert.equal((await server.request('DELETE', `/api/bridges/${id}`, undefined, operator)).status, 403);
    });

    test('the OpenAPI document lists the bridge routes with their shapes', async () => {
      const server = await api(kind);
      const response = await fetch(`${server.baseUrl}/api/docs/json`);
      const document = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
      assert.deepEqual(Object.keys(document.paths['/api/bridges'] ?? {}).sort(), ['get', 'post']);
      assert.deepEqual(Object.keys(document.paths['/api/bridges/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
      const created = JSON.stringify(document.paths['/api/bridges']?.['post']);
      assert.ok(created.includes('"secret"') && created.includes('"rejectUnauthorized"'));
    });

    test('bad settings are 400 naming the field, a bad rule its index; names are unique; other orgs see 404', async () => {
      const server = await api(kind);
      const base = { name: 'b', host: '127.0.0.1', port: SYSTEM_MOSQUITTO };
      const badRule = await server.request('POST', '/api/bridges', {
        ...base,
        filters: [
          { pattern: '[a-z]+@example\\.com', action: 'hash' },
          { pattern: '(unclosed', action: 'drop' },
        ],
      });
      assert.equal(badRule.status, 400);
      assert.deepEqual(
        [(badRule.json as { error: string }).error, (badRule.json as { ruleIndex: number }).ruleIndex],
        ['INVALID_REQUEST', 1],
      );
      const cases: [Record<string, unknown>, string][] = [
        [{ topicPrefix: 'a/+/b' }, 'topicPrefix'],
        [{ host: 'not a host' }, 'host'],
        [{ ca: 'garbage' }, 'ca'],
        [{ tls: true, ca: 'garbage' }, 'ca'],
        [{ password: 'p' }, 'password'],
      ];
      for (const [change, field] of cases) {
        const response = await server.request('POST', '/api/bridges', { ...base, ...change });
        assert.equal(response.status, 400, JSON.stringify(change));
        assert.equal((response.json as { field: string }).field, field, JSON.stringify(change));
      }
      for (const body of [{ ...base, port: 0 }, { ...base, qos: 2 }, { name: 'no host' }]) {
        const response = await server.request('POST', '/api/bridges', body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal((response.json as { error: string }).error, 'INVALID_REQUEST');
      }
      assert.equal((await server.request('GET', '/api/bridges')).json instanceof Array, true);
      assert.deepEqual((await server.request('GET', '/api/bridges')).json, [], 'nothing was saved');

      const first = await server.request('POST', '/api/bridges', { ...base, topicPrefix: uniquePrefix('api-dup') });
      assert.equal(first.status, 201);
      const duplicate = await server.request('POST', '/api/bridges', base);
      assert.equal(duplicate.status, 409);
      const { id } = first.json as BridgeBody;
      const badPatch = await server.request('PATCH', `/api/bridges/${id}`, {
        filters: [{ pattern: '*', action: 'hash' }],
      });
      assert.deepEqual([badPatch.status, (badPatch.json as { ruleIndex: number }).ruleIndex], [400, 0]);

      const other = await server.platform.entities.createOrganization({ name: 'other' });
      const outsider = await server.userToken('admin', other.id);
      for (const method of ['GET', 'DELETE'] as const) {
        assert.equal((await server.request(method, `/api/bridges/${id}`, undefined, outsider)).status, 404);
      }
      assert.equal((await server.request('PATCH', `/api/bridges/${id}`, { name: 'z' }, outsider)).status, 404);
      assert.equal((await server.request('GET', '/api/bridges/nope')).status, 404);
    });

    test('PATCH of name and filters applies live; another setting reconnects with it', async () => {
      const server = await api(kind);
      const prefix = uniquePrefix('api-patch');
      const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
      const created = await server.request('POST', '/api/bridges', {
        name: 'live',
        host: '127.0.0.1',
        port: SYSTEM_MOSQUITTO,
        topicPrefix: prefix,
      });
      const { id, secret } = created.json as BridgeBody;
      const connectedAt = await waitForConnected(server, id);

      const patched = await server.request('PATCH', `/api/bridges/${id}`, {
        name: 'renamed',
        filters: [{ pattern: '[a-z.]+@example\\.com', action: 'hash' }],
      });
      assert.equal(patched.status, 200);
      assert.equal((patched.json as BridgeBody).name, 'renamed');
      server.feed.set(server.orgId, topic(server.orgId, 'organizer'), 'ada@example.com');
      const [message] = await client.waitForMessages(1);
      const expected = createHmac('sha256', secret!).update('ada@example.com').digest('hex');
      assert.equal((JSON.parse(message!.payload) as { value: string }).value, JSON.stringify(expected));
      assert.equal((await bridgeOf(server, id)).status.connectedAt, connectedAt, 'no reconnect');

      const otherPrefix = uniquePrefix('api-patch-2');
      const second = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, otherPrefix);
      assert.equal((await server.request('PATCH', `/api/bridges/${id}`, { topicPrefix: otherPrefix })).status, 200);
      // The new connection resyncs under the new prefix.
      const [moved] = await second.waitForMessages(1);
      assert.equal(moved!.topic, `${otherPrefix}/${topic(server.orgId, 'organizer')}`);
      const after = await bridgeOf(server, id);
      assert.equal(after.topicPrefix, otherPrefix);
      assert.ok(after.status.connectedAt !== null && after.status.connectedAt >= connectedAt);
    });

    test('DELETE (204) disconnects the bridge and removes it', async () => {
      const server = await api(kind);
      const gate = await startGate(SYSTEM_MOSQUITTO);
      resources.add(gate);
      const created = await server.request('POST', '/api/bridges', {
        name: 'doomed',
        host: '127.0.0.1',
        port: gate.port,
        topicPrefix: uniquePrefix('api-delete'),
      });
      const { id } = created.json as BridgeBody;
      await waitForConnected(server, id);
      assert.equal(gate.connections, 1);
      assert.equal((await server.request('DELETE', `/api/bridges/${id}`)).status, 204);
      await waitFor(() => gate.connections === 0, 'the bridge to disconnect');
      assert.equal((await server.request('GET', `/api/bridges/${id}`)).status, 404);
      assert.equal((await server.request('DELETE', `/api/bridges/${id}`)).status, 404);
    });

    test('a stored bridge whose rules no longer compile does not stop the server; it shows why, and a PATCH restarts it', async () => {
      const first = await startBridgeApi(kind);
      let closed = false;
      resources.add({ close: () => (closed ? Promise.resolve() : first.close()) });
      const created = await first.request('POST', '/api/bridges', {
        name: 'aged',
        host: '127.0.0.1',
        port: SYSTEM_MOSQUITTO,
        topicPrefix: uniquePrefix('api-aged'),
      });
      const { id } = created.json as BridgeBody;
      // As if an older version had saved a rule this one refuses.
      const sql = await first.platform.store.openModule(BRIDGE_SCHEMA);
      const [row] = await sql.query<{ settings: string }>('SELECT settings FROM bridges_targets WHERE id = ?', [id]);
      const settings = JSON.parse(row!.settings) as Record<string, unknown>;
      settings['filters'] = [{ pattern: '(', action: 'hash' }];
      await sql.run('UPDATE bridges_targets SET settings = ? WHERE id = ?', [JSON.stringify(settings), id]);
      await first.close(true);
      closed = true;

      const second = await startBridgeApi(kind, { reuse: first.location });
      resources.add({ close: () => second.close() });
      const stopped = await bridgeOf(second, id);
      assert.equal(stopped.status.connected, false);
      assert.match(String((stopped.status as { lastError?: unknown }).lastError), /not running/);
      assert.equal((await second.request('PATCH', `/api/bridges/${id}`, { filters: [] })).status, 200);
      await waitForConnected(second, id);
    });

    test('bridges survive a restart with their secret; deleting the organization stops and removes its bridges', async () => {
      const first = await startBridgeApi(kind);
      let closed = false;
      resources.add({ close: () => (closed ? Promise.resolve() : first.close()) });
      const created = await first.request('POST', '/api/bridges', {
        name: 'durable',
        host: '127.0.0.1',
        port: SYSTEM_MOSQUITTO,
        username: 'u',
        password: 'p',
        topicPrefix: uniquePrefix('api-restart'),
      });
      const { id, secret } = created.json as BridgeBody;
      await first.close(true);
      closed = true;

      const second = await startBridgeApi(kind, { reuse: first.location });
      resources.add({ close: () => second.close() });
      const again = await waitForConnected(second, id);
      assert.ok(again > 0);
      const stored = (await second.bridges.service.get(second.orgId, id))!;
      assert.equal(stored.hasPassword, true);
      // The secret is the one shown at creation: a hash rule added now hashes with it.
      const prefix = stored.topicPrefix;
      const client = await cleaningSubscriber(resources, SYSTEM_MOSQUITTO, prefix);
      await second.request('PATCH', `/api/bridges/${id}`, { filters: [{ pattern: 'room-[0-9]+', action: 'hash' }] });
      second.feed.set(second.orgId, topic(second.orgId, 'room'), 'room-42');
      const [message] = await client.waitForMessages(1);
      const expected = createHmac('sha256', secret!).update('room-42').digest('hex');
      assert.equal((JSON.parse(message!.payload) as { value: string }).value, JSON.stringify(expected));

      const org = await second.platform.entities.createOrganization({ name: 'short-lived' });
      const token = await second.userToken('admin', org.id);
      const gate = await startGate(SYSTEM_MOSQUITTO);
      resources.add(gate);
      const doomed = await second.request(
        'POST',
        '/api/bridges',
        { name: 'org-bridge', host: '127.0.0.1', port: gate.port, topicPrefix: uniquePrefix('api-org') },
        token,
      );
      assert.equal(doomed.status, 201);
      await waitFor(() => gate.connections === 1, 'the bridge to connect');
      assert.equal(await second.platform.entities.deleteOrganization(org.id), true);
      await waitFor(() => gate.connections === 0, 'the bridge of the deleted organization to disconnect');
      assert.deepEqual(await second.bridges.service.list(org.id), []);
    });
  });
}

/** Polls GET until the bridge is connected; returns its connectedAt. */
async function waitForConnected(server: BridgeApi, id: string): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { status } = await bridgeOf(server, id);
    if (status.connected && status.connectedAt !== null) return status.connectedAt;
    if (Date.now() > deadline) throw new Error(`bridge ${id} did not connect: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
