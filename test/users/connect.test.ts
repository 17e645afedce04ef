/**
 * Users and API keys connecting over MQTT (issue 5 "Users over MQTT and WebSocket", device-apis.md §1.5, choices.md
 * "Who connects" step 2): the JWT or API key as both username and password, on TCP, on WebSocket at `/api/mqtt/`
 * (with and without the trailing slash, `mqtt` subprotocol) and `/mqtt`, and on WSS when TLS is configured; refusals
 * with 0x86 (3.1.1: 0x04); credentials of other shapes left to the other dialects.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  connackCode,
  connectClient,
  PROTOCOL_VERSIONS,
  Resources,
  runMosquitto,
  withTimeout,
  WAIT_MS,
} from '../helpers/index.js';
import { asUser, startUsersServer, type TestApiKey, type TestUser, type UsersServer } from './helpers.js';

const versionName = (version: 4 | 5): string => (version === 4 ? '3.1.1' : '5');

describe('users connect with a JWT or an API key', () => {
  let users: UsersServer;
  let viewer: TestUser;
  let key: TestApiKey;
  const resources = new Resources();

  before(async () => {
    users = await startUsersServer({ tls: true });
    viewer = await users.createUser('viewer');
    key = await users.createApiKey('viewer');
  });
  afterEach(() => resources.closeAll());
  after(() => users.close());

  for (const protocolVersion of PROTOCOL_VERSIONS) {
    const name = versionName(protocolVersion);
    it(`a JWT and an API key are accepted on TCP (MQTT ${name})`, async () => {
      const byJwt = resources.add(await connectClient(users.server.mqttUrl, asUser(viewer.token, protocolVersion)));
      const byKey = resources.add(await connectClient(users.server.mqttUrl, asUser(key.key, protocolVersion)));
      assert.equal(byJwt.client.connected, true);
      assert.equal(byKey.client.connected, true);
    });

    it(`a JWT and an API key are accepted over WebSocket at /api/mqtt/ (MQTT ${name})`, async () => {
      const byJwt = resources.add(await connectClient(users.apiMqttUrl, asUser(viewer.token, protocolVersion)));
      const byKey = resources.add(await connectClient(users.apiMqttUrl, asUser(key.key, protocolVersion)));
      assert.equal(byJwt.client.connected, true);
      assert.equal(byKey.client.connected, true);
    });

    it(`an expired JWT is refused at connect: 0x86 / 3.1.1 0x04 (MQTT ${name})`, async () => {
      const expired = await users.signToken(viewer, 60, Date.now() - 120_000);
      const expected = protocolVersion === 5 ? 0x86 : 0x04;
      assert.equal(await connackCode(users.server.mqttUrl, asUser(expired, protocolVersion)), expected);
      assert.equal(await connackCode(users.apiMqttUrl, asUser(expired, protocolVersion)), expected);
    });
  }

  it('a user session works on every WebSocket path: /api/mqtt/, /api/mqtt and /mqtt, with the mqtt subprotocol', async () => {
    const base = `ws://${users.server.host}:${String(users.server.httpPort)}`;
    for (const path of ['/api/mqtt/', '/api/mqtt', '/mqtt']) {
      const session = resources.add(await connectClient(base + path, asUser(key.key)));
      assert.equal(session.client.connected, true, path);
      const ws = new WebSocket(base + path, ['mqtt']);
      ws.on('error', () => undefined);
      await withTimeout(new Promise((resolve) => ws.once('open', resolve)), WAIT_MS, `upgrade at ${path}`);
      assert.equal(ws.protocol, 'mqtt', path);
      ws.terminate();
    }
  });

  it('a JWT and an API key are accepted on the MQTT over TLS listener too', async () => {
    const ca = users.server.certificates!.caCert;
    const byJwt = resources.add(await connectClient(users.server.mqttsUrl!, { ...asUser(viewer.token), ca }));
    const byKey = resources.add(await connectClient(users.server.mqttsUrl!, { ...asUser(key.key, 4), ca }));
    assert.equal(byJwt.client.connected, true);
    assert.equal(byKey.client.connected, true);
  });

  it('with TLS configured, /api/mqtt/ is served over WSS on the HTTPS port (and the HTTP API with it)', async () => {
    const httpsPort = users.server.httpsPort;
    assert.ok(httpsPort !== undefined, 'the HTTPS listener is on with tls.cert and tls.key');
    const ca = users.server.certificates!.caCert;
    const secure = resources.add(
      await connectClient(`wss://localhost:${String(httpsPort)}/api/mqtt/`, { ...asUser(viewer.token), ca }),
    );
    assert.equal(secure.client.connected, true);
    // A message over WSS reaches a TCP subscriber of the same organization: one broker behind every listener.
    const operator = await users.createUser('operator');
    const sender = resources.add(
      await connectClient(`wss://localhost:${String(httpsPort)}/api/mqtt/`, { ...asUser(operator.token), ca }),
    );
    const listener = resources.add(await connectClient(users.server.mqttUrl, asUser(viewer.token)));
    await listener.client.subscribeAsync('lobby/display', { qos: 1 });
    await sender.client.publishAsync('lobby/display', 'over wss', { qos: 1 });
    const [message] = await listener.waitForMessages(1);
    assert.equal(message?.payload, 'over wss');
    const health = await users.request('GET', '/api/auth/me', viewer.token);
    assert.equal(health.status, 200);
  });

  it('mosquitto_sub with -u/-P the JWT connects and receives what an operator publishes', async () => {
    const operator = await users.createUser('operator');
    const sub = runMosquitto('mosquitto_sub', users.server.mqttPort, [
      '-V',
      'mqttv5',
      '-u',
      viewer.token,
      '-P',
      viewer.token,
      '-t',
      'lobby/screen',
      '-C',
      '1',
      '-q',
      '1',
    ]);
    resources.add(sub);
    // Retained, so the subscriber gets it however its SUBSCRIBE and this PUBLISH interleave.
    const sender = resources.add(await connectClient(users.server.mqttUrl, asUser(operator.token)));
    await sender.client.publishAsync('lobby/screen', 'welcome', { qos: 1, retain: true });
    const result = await sub.result;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'welcome');
  });

  it('mosquitto_sub with an expired JWT is refused and says why', async () => {
    const expired = await users.signToken(viewer, 60, Date.now() - 120_000);
    const sub = runMosquitto('mosquitto_sub', users.server.mqttPort, [
      '-V',
      'mqttv311',
      '-u',
      expired,
      '-P',
      expired,
      '-t',
      'lobby/screen',
    ]);
    resources.add(sub);
    const result = await sub.result;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /bad user name or password/i);
  });

  it('a forged JWT, an unknown API key and a deleted API key are refused with 0x86', async () => {
    const [header, payload] = viewer.token.split('.');
    const forged = `${header!}.${payload!}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
    assert.equal(await connackCode(users.server.mqttUrl, asUser(forged)), 0x86);
    assert.equal(await connackCode(users.server.mqttUrl, asUser('sbk_' + 'x'.repeat(32))), 0x86);
    const doomed = await users.createApiKey('viewer');
    resources.add(await connectClient(users.server.mqttUrl, asUser(doomed.key)));
    assert.equal((await users.request('DELETE', `/api/api-keys/${doomed.id}`, users.adminToken)).status, 204);
    assert.equal(await connackCode(users.server.mqttUrl, asUser(doomed.key)), 0x86);
  });

  it('a JWT as username with a different password is not a user session (it falls to the device dialects)', async () => {
    // Not user-shaped, so ThingsBoard's steps answer: no device has this token (v5 0x86, 3.1.1 0x05 as ThingsBoard).
    assert.equal(await connackCode(users.server.mqttUrl, { ...asUser(viewer.token, 4), password: 'other' }), 0x05);
  });

  it('a user whose token is still valid but who was deleted cannot connect', async () => {
    const leaving = await users.createUser('viewer');
    assert.equal((await users.request('DELETE', `/api/users/${leaving.id}`, users.adminToken)).status, 204);
    assert.equal(await connackCode(users.server.mqttUrl, asUser(leaving.token)), 0x86);
  });
});
