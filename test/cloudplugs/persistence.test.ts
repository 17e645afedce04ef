/**
 * What the CloudPlugs dialect keeps in its module tables (templates, enrolled devices with status and permission
 * filters, properties, locations) survives a restart and is the same on SQLite and PostgreSQL. PostgreSQL runs in a
 * schema of its own (`SWITCHBOARD_TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/test); when it cannot be
 * reached that suite is skipped with the reason.
 */
import { serverStores } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { connectClient, Resources } from '../helpers/index.js';
import { startPlugServer, thingTopicPass } from './helpers.js';

const stores = await serverStores('sb_cp');

for (const store of stores) {
  describe(`CloudPlugs module tables on ${store.name}`, store.skip === undefined ? {} : { skip: store.skip }, () => {
    const resources = new Resources();
    afterEach(() => resources.closeAll());

    it('templates, enrolled things, status, permission filters, properties and locations survive a restart', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-cp-'));
      const config = { ...store.config(), dataDir };
      try {
        let server = await startPlugServer(config);
        const template = await server.createTemplate();
        const hwid = 'KEEP-1';
        const session = resources.add(
          await connectClient(server.test.mqttUrl, { clientId: `${hwid}/kept`, username: '', password: '' }),
        );
        await session.client.subscribeAsync(`${template.plugId}/thing/${thingTopicPass(template.secret, hwid)}`);
        const thing = JSON.parse((await session.waitForMessages(1))[0]?.payload ?? '') as { id: string; auth: string };
        const headers = { 'x-plug-id': thing.id, 'x-plug-auth': thing.auth };
        assert.equal(
          (await server.iot('PATCH', `/iot/device/${thing.id}`, { props: { floor: 3 } }, headers)).status,
          200,
        );
        assert.equal(
          (await server.iot('PATCH', `/iot/device/${thing.id}/location`, { x: 1, y: 2, t: 5 }, headers)).status,
          200,
        );
        const blocked = await server.createThing(template, 'KEEP-2');
        const perm = { of: { r: [blocked.plugId], w: [] }, ctrl: '' };
        const devices = (await server.api('GET', '/api/devices')).body as { id: string; name: string }[];
        const deviceId = devices.find((d) => d.name === 'kept')?.id ?? '';
        assert.equal((await server.api('PATCH', `/api/devices/${deviceId}`, { cloudplugs: { perm } })).status, 200);
        assert.equal(
          (await server.api('PATCH', `/api/devices/${blocked.deviceId}`, { cloudplugs: { status: 'disabled' } }))
            .status,
          200,
        );
        await resources.closeAll();
        await server.close();

        server = await startPlugServer(config);
        resources.add({ close: () => server.close() });
        const device = resources.add(
          await connectClient(server.test.mqttUrl, { clientId: hwid, username: thing.id, password: thing.auth }),
        );
        assert.ok(device.client.connected);
        await assert.rejects(
          server.connectThing(blocked, { protocolVersion: 5 }),
          (e: Error & { code?: number }) => e.code === 0x87,
        );
        const read = await server.iot('GET', `/iot/device/${thing.id}`, undefined, headers);
        assert.equal(read.status, 200);
        const body = read.body as { props: unknown; perm: unknown; location: unknown; model: string; status: string };
        assert.deepEqual(body.props, { floor: 3 });
        assert.deepEqual(body.perm, perm);
        assert.deepEqual(body.location, { x: 1, y: 2, t: 5 });
        assert.equal(body.model, template.plugId);
        assert.equal(body.status, 'ok');
        const profile = await server.api('GET', `/api/profiles/${template.id}`);
        assert.equal((profile.body as { plugId: string }).plugId, template.plugId);
        // Deleting the platform device removes its CloudPlugs part (ON DELETE CASCADE): its Plug-ID no longer logs in.
        assert.equal((await server.api('DELETE', `/api/devices/${deviceId}`)).status, 204);
        assert.equal((await server.iot('GET', `/iot/device/${thing.id}`, undefined, headers)).status, 401);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('uploaded enrolment passwords and private-record marks are kept in the module tables', async () => {
      const server = await startPlugServer(store.config());
      resources.add({ close: () => server.close() });
      const created = await server.api('POST', '/api/profiles', {
        name: 'uploaded',
        cloudplugs: { enrollPasses: { 'UP-1': 'pass-for-up-1' } },
      });
      const plugId = (created.body as { plugId: string }).plugId;
      const enrolled = await server.iot(
        'POST',
        '/iot/device',
        { model: plugId, hwid: 'UP-1', pass: 'pass-for-up-1' },
        {},
      );
      assert.equal(enrolled.status, 200, enrolled.text);
      const wrong = await server.iot('POST', '/iot/device', { model: plugId, hwid: 'UP-2', pass: 'pass-for-up-1' }, {});
      assert.equal(wrong.status, 403);
      const { id, auth } = enrolled.body as { id: string; auth: string };
      const headers = { 'x-plug-id': id, 'x-plug-auth': auth };
      const put = await server.iot(
        'PUT',
        '/iot/data/notes',
        [{ data: 'mine', is_priv: true }, { data: 'ours' }],
        headers,
      );
      assert.equal(put.status, 200, put.text);
      const reader = await server.iot(
        'POST',
        '/iot/device',
        { name: 'reader' },
        {
          authorization: `Basic ${Buffer.from(`admin-reader@example.com:x`).toString('base64')}`,
        },
      );
      assert.equal(reader.status, 401);
      const template = await server.createTemplate();
      const other = await server.createThing(template, 'UP-READER');
      const asOther = { 'x-plug-id': other.plugId, 'x-plug-auth': other.auth };
      const seen = await server.iot('GET', `/iot/data/notes?of=${id}`, undefined, asOther);
      assert.deepEqual(
        (seen.body as { data: unknown }[]).map((r) => r.data),
        ['ours'],
      );
      const own = await server.iot('GET', '/iot/data/notes', undefined, headers);
      assert.deepEqual((own.body as { data: unknown }[]).map((r) => r.data).sort(), ['mine', 'ours']);
    });
  });
}
