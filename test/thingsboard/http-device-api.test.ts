/**
 * ThingsBoard's HTTP device API over real HTTP (device-apis.md §3.10) and the claiming API (§3.7): telemetry and
 * attributes stored, attribute reads, long polls (and their 408), RPC both ways, claim; 401 for an unknown token, 400
 * with `{"error","message"}` for malformed JSON (not 500).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLAIMING_DATA_KEY } from '../../src/dialects/thingsboard/index.js';
import type { Device } from '../../src/platform/model.js';
import { connectClient, Resources, waitFor } from '../helpers/index.js';
import { startTbServer, type TbServer } from './helpers.js';
import { pubackCode, serverDisconnect } from './tb-clients.js';

describe('ThingsBoard HTTP device API', () => {
  let tb: TbServer;
  let device: Device;
  let base: string;

  before(async () => {
    tb = await startTbServer();
    const created = await tb.createDevice('http-device');
    device = created.device;
    base = `${tb.httpUrl}/api/v1/${tb.tokenOf(created)}`;
  });
  after(() => tb.close());

  const post = (path: string, body: string, contentType = 'application/json'): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': contentType } });

  it('POST /telemetry stores the points and answers 200 with an empty body', async () => {
    const response = await post('/telemetry', '{"ts":1451649600512,"values":{"temperature":"26.5"}}');
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
    const [point] = await tb.platform.store.latestTelemetry(device.id, ['temperature']);
    assert.deepEqual(point, { key: 'temperature', ts: 1451649600512, value: 26.5 });
  });

  it('JSON sent without a JSON content type (curl -d) is read all the same', async () => {
    const response = await post('/telemetry', '{"formSent":1}', 'application/x-www-form-urlencoded');
    assert.equal(response.status, 200);
    const [point] = await tb.platform.store.latestTelemetry(device.id, ['formSent']);
    assert.equal(point?.value, 1);
  });

  it('malformed JSON is a 400 with {"error","message"}, not a 500; a wrong shape is a 400 too', async () => {
    const malformed = await post('/telemetry', '{"a":');
    assert.equal(malformed.status, 400);
    const body = (await malformed.json()) as { error: string; message: string };
    assert.equal(body.error, 'INVALID_JSON');
    assert.ok(body.message.length > 0);
    const shape = await post('/attributes', '[1,2]');
    assert.equal(shape.status, 400);
    assert.equal(((await shape.json()) as { error: string }).error, 'INVALID_REQUEST');
  });

  it('an unknown token is a 401', async () => {
    const response = await fetch(`${tb.httpUrl}/api/v1/no-such-token/telemetry`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 401);
  });

  it('POST /attributes stores client attributes; GET /attributes reads them with clientKeys/sharedKeys', async () => {
    assert.equal((await post('/attributes', '{"fw":"1.0","ready":true}')).status, 200);
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { interval: 5 }, done));
    const all = await fetch(`${base}/attributes`);
    assert.deepEqual(await all.json(), { client: { fw: 1, ready: true }, shared: { interval: 5 } });
    const some = await fetch(`${base}/attributes?clientKeys=ready&sharedKeys=interval,missing`);
    assert.deepEqual(await some.json(), { client: { ready: true }, shared: { interval: 5 } });
  });

  it('GET /attributes/updates waits for a shared attribute change; without one it ends in 408', async () => {
    const poll = fetch(`${base}/attributes/updates?timeout=5000`);
    await waitFor(() => tb.platform.links.isConnected(device.id), 'the long poll');
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { interval: 10 }, done));
    const response = await poll;
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { interval: 10 });
    const timedOut = await fetch(`${base}/attributes/updates?timeout=50`);
    assert.equal(timedOut.status, 408);
  });

  it('GET /rpc long poll receives a server-side RPC; POST /rpc/{id} replies to it', async () => {
    const poll = fetch(`${base}/rpc?timeout=5000`);
    await waitFor(() => tb.platform.links.isConnected(device.id), 'the long poll');
    const call = tb.platform.rpc.call(device, {
      method: 'reboot',
      params: { delay: 1 },
      isOneway: false,
      isPersistent: false,
    });
    const response = await poll;
    assert.equal(response.status, 200);
    const request = (await response.json()) as { id: number; method: string; params: unknown };
    assert.equal(request.method, 'reboot');
    assert.deepEqual(request.params, { delay: 1 });
    assert.equal((await post(`/rpc/${String(request.id)}`, '{"ok":true}')).status, 200);
    const outcome = await call;
    assert.equal(outcome.kind, 'done');
    assert.deepEqual(outcome.rpc.response, { ok: true });
    assert.equal((await fetch(`${base}/rpc?timeout=50`)).status, 408);
  });

  it('POST /rpc is a client-side RPC: getTime answers, an unknown method answers {"error"}', async () => {
    const time = await post('/rpc', '{"method":"getTime","params":{}}');
    assert.equal(time.status, 200);
    assert.equal(typeof ((await time.json()) as { time: unknown }).time, 'number');
    const unknown = await post('/rpc', '{"method":"nope","params":{}}');
    assert.equal(typeof ((await unknown.json()) as { error: unknown }).error, 'string');
    assert.equal((await post('/rpc', '{"params":{}}')).status, 400);
  });

  it('POST /claim stores the claim data', async () => {
    assert.equal((await post('/claim', '{"secretKey":"s3cret","durationMs":60000}')).status, 200);
    const [stored] = await tb.platform.store.getAttributes(device.id, 'server', [CLAIMING_DATA_KEY]);
    assert.equal((stored?.value as { secretKey: string }).secretKey, 's3cret');
  });
});

describe('claiming over the management API', () => {
  let tb: TbServer;
  const resources = new Resources();
  let customerToken: string;
  let customerOrgId: string;

  before(async () => {
    tb = await startTbServer();
    const customer = await tb.platform.entities.createOrganization({ name: 'customer' });
    customerOrgId = customer.id;
    await tb.auth.createUser(customer.id, { username: 'alice', password: 'password-123', role: 'operator' });
    const login = await fetch(`${tb.httpUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'password-123' }),
    });
    customerToken = ((await login.json()) as { token: string }).token;
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  const claim = (name: string, secretKey: string, method = 'POST'): Promise<Response> =>
    fetch(`${tb.httpUrl}/api/claims/${name}`, {
      method,
      headers:
        method === 'POST'
          ? { authorization: `Bearer ${customerToken}`, 'content-type': 'application/json' }
          : { authorization: `Bearer ${customerToken}` },
      ...(method === 'POST' ? { body: JSON.stringify({ secretKey }) } : {}),
    });

  it('a device that asked to be claimed is claimed with its secret, then reclaimed', async () => {
    const created = await tb.createDevice('claimable');
    const token = tb.tokenOf(created);
    const asked = await fetch(`${tb.httpUrl}/api/v1/${token}/claim`, { method: 'POST', body: '{"secretKey":"abc"}' });
    assert.equal(asked.status, 200);

    const wrong = await claim('claimable', 'nope');
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { result: string }).result, 'FAILURE');

    const ok = await claim('claimable', 'abc');
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { result: string }).result, 'SUCCESS');
    assert.equal((await tb.platform.store.getDevice(created.device.id))?.orgId, customerOrgId);

    const again = await claim('claimable', 'abc');
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { result: string }).result, 'CLAIMED');

    const reclaimed = await claim('claimable', '', 'DELETE');
    assert.equal(reclaimed.status, 200);
    assert.equal((await tb.platform.store.getDevice(created.device.id))?.orgId, tb.org.id);
  });

  it('a device that never asked is FAILURE; an unknown name is 404; no credentials is 401', async () => {
    await tb.createDevice('never-asked');
    const failure = await claim('never-asked', '');
    assert.equal(failure.status, 400);
    assert.equal(((await failure.json()) as { result: string }).result, 'FAILURE');
    assert.equal((await claim('no-such-device', '')).status, 404);
    const anonymous = await fetch(`${tb.httpUrl}/api/claims/never-asked`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  it('a connected device that is claimed is disconnected with 0x98 so it reconnects as its new organization’s', async () => {
    const created = await tb.createDevice('online-claim');
    const { client } = resources.add(
      await connectClient(tb.mqttUrl, { username: tb.tokenOf(created), protocolVersion: 5 }),
    );
    assert.equal(await pubackCode(client, 'v1/devices/me/claim', '{"secretKey":"k2"}'), 0);
    const disconnected = serverDisconnect(client);
    assert.equal((await claim('online-claim', 'k2')).status, 200);
    assert.equal((await disconnected).reasonCode, 0x98);
    // Claimed: a new claim request from the device is refused (MQTT 5 PUBACK 0x87), nothing stored.
    const again = resources.add(await connectClient(tb.mqttUrl, { username: tb.tokenOf(created), protocolVersion: 5 }));
    assert.equal(await pubackCode(again.client, 'v1/devices/me/claim', '{}'), 0x87);
  });

  it('an expired claim is FAILURE', async () => {
    const created = await tb.createDevice('expired');
    await tb.platform.committed((done) =>
      tb.platform.postAttributes(
        created.device,
        'server',
        { [CLAIMING_DATA_KEY]: { secretKey: 'k', expirationTime: Date.now() - 1 } },
        done,
      ),
    );
    assert.equal(((await (await claim('expired', 'k')).json()) as { result: string }).result, 'FAILURE');
  });
});
