/** The CloudPlugs parts of the management API: templates on profiles, CLOUDPLUGS credentials, PATCH cloudplugs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPlugServer, type PlugServer } from './helpers.js';

describe('CloudPlugs in the management API', () => {
  let server: PlugServer;

  before(async () => {
    server = await startPlugServer();
  });
  after(() => server.close());

  it('POST /api/profiles with cloudplugs answers 201 with a mod- Plug-ID, which GET shows too', async () => {
    const created = await server.api('POST', '/api/profiles', {
      name: 'm1',
      cloudplugs: { enrollSecret: 'a-long-secret' },
    });
    assert.equal(created.status, 201, created.text);
    const { id, plugId } = created.body as { id: string; plugId: string };
    assert.match(plugId, /^mod-[0-9a-f]{24}$/);
    const read = await server.api('GET', `/api/profiles/${id}`);
    assert.equal((read.body as { plugId: string }).plugId, plugId);
    const plain = await server.api('POST', '/api/profiles', { name: 'plain' });
    assert.equal((plain.body as { plugId?: string }).plugId, undefined);
  });

  it('a bad cloudplugs field is 400 and creates no profile', async () => {
    for (const cloudplugs of [{ enrollSecret: 'short' }, {}, { enrollSecret: 'a-long-secret', colour: 1 }]) {
      const answer = await server.api('POST', '/api/profiles', { name: 'refused', cloudplugs });
      assert.equal(answer.status, 400, JSON.stringify(cloudplugs));
    }
    const profiles = (await server.api('GET', '/api/profiles')).body as { name: string }[];
    assert.ok(!profiles.some((p) => p.name === 'refused'));
  });

  it('POST /api/devices with CLOUDPLUGS credentials answers {type, plugId, auth}; GET credentials hides the auth', async () => {
    const template = await server.createTemplate();
    const created = await server.api('POST', '/api/devices', {
      name: 'mgmt-thing',
      profile: template.id,
      hwid: 'MG-1',
      credentials: { type: 'CLOUDPLUGS' },
    });
    assert.equal(created.status, 201, created.text);
    const body = created.body as {
      id: string;
      profileId: string;
      credentials: { type: string; plugId: string; auth: string };
    };
    assert.equal(body.credentials.type, 'CLOUDPLUGS');
    assert.match(body.credentials.plugId, /^dev-[0-9a-f]{24}$/);
    assert.equal(typeof body.credentials.auth, 'string');
    assert.equal(body.profileId, template.id);
    const credentials = await server.api('GET', `/api/devices/${body.id}/credentials`);
    assert.deepEqual(credentials.body, { type: 'CLOUDPLUGS', plugId: body.credentials.plugId });
    const twice = await server.api('POST', '/api/devices', {
      name: 'mgmt-thing-2',
      profile: template.id,
      hwid: 'MG-1',
      credentials: { type: 'CLOUDPLUGS' },
    });
    assert.equal(twice.status, 409);
    const hwidAlone = await server.api('POST', '/api/devices', { name: 'tb-with-hwid', hwid: 'X' });
    assert.equal(hwidAlone.status, 400);
  });

  it('PATCH /api/devices/{id} cloudplugs changes status and perm; a bad status is 400, a non-CloudPlugs device 404', async () => {
    const template = await server.createTemplate();
    const thing = await server.createThing(template, 'MG-PATCH');
    const patched = await server.api('PATCH', `/api/devices/${thing.deviceId}`, {
      name: 'renamed',
      cloudplugs: { status: 'reactivate', perm: { of: { w: [thing.plugId] } } },
    });
    assert.equal(patched.status, 200, patched.text);
    const body = patched.body as { name: string; cloudplugs: { status: string; perm: unknown } };
    assert.equal(body.name, 'renamed');
    assert.deepEqual(body.cloudplugs, {
      status: 'reactivate',
      perm: { of: { r: null, w: [thing.plugId] }, ctrl: 'rw' },
    });
    const bad = await server.api('PATCH', `/api/devices/${thing.deviceId}`, { cloudplugs: { status: 'sleeping' } });
    assert.equal(bad.status, 400);
    const tb = (await server.api('POST', '/api/devices', { name: 'plain-tb' })).body as { id: string };
    const notPlugs = await server.api('PATCH', `/api/devices/${tb.id}`, { cloudplugs: { status: 'ok' } });
    assert.equal(notPlugs.status, 404);
  });
});
