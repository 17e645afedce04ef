/**
 * ThingsBoard CONNECT over real sockets (device-apis.md §3.1, choices.md "Who connects"): access tokens, MQTT basic
 * credentials in their three forms and ThingsBoard's look-up order, X.509 client certificates, provisioning sessions,
 * anonymous fallback, refusal codes per protocol version, one session per device.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { certificateHash } from '../../src/dialects/thingsboard/index.js';
import { clientClosed, connackCode, connectClient, Resources } from '../helpers/index.js';
import { startTbServer, type TbServer } from './helpers.js';
import { pubackCode, serverDisconnect, subackCodes } from './tb-clients.js';

describe('ThingsBoard CONNECT', () => {
  let tb: TbServer;
  const resources = new Resources();
  let token: string;

  before(async () => {
    tb = await startTbServer({ tls: true });
    token = tb.tokenOf(await tb.createDevice('token-device'));
    await tb.createDevice('basic-client-only', {
      type: 'MQTT_BASIC',
      clientId: 'only-client',
      username: null,
      password: null,
    });
    await tb.createDevice('basic-user-pass', {
      type: 'MQTT_BASIC',
      clientId: null,
      username: 'bob',
      password: 'secret',
    });
    await tb.createDevice('basic-all-three', { type: 'MQTT_BASIC', clientId: 'c3', username: 'u3', password: 'p3' });
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  for (const protocolVersion of [4, 5] as const) {
    it(`an access token as the username connects (MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}), password and client id ignored`, async () => {
      const device = resources.add(
        await connectClient(tb.mqttUrl, { protocolVersion, username: token, password: 'whatever', clientId: 'any-id' }),
      );
      assert.equal(device.client.connected, true);
    });
  }

  // MQTT 5 §3.2.2.2 (CONNACK reason codes), 3.1.1 §3.2.2.3 (return codes 0x04/0x05); [MQTT-3.2.2-5] the server closes
  // the connection after a refusing CONNACK.
  it('a wrong token is refused: MQTT 5 0x86, MQTT 3.1.1 0x05 (as the source document says)', async () => {
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 5, username: 'no-such-token' }), 0x86);
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 4, username: 'no-such-token' }), 0x05);
  });

  it('no credentials without anonymous access is refused: MQTT 5 0x87, MQTT 3.1.1 0x04 ("username is empty")', async () => {
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 5, clientId: 'unknown-client' }), 0x87);
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 4, clientId: 'unknown-client' }), 0x04);
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 4, clientId: 'x', username: '' }), 0x04);
  });

  it('basic credentials, client id only: an empty username and the registered client id', async () => {
    resources.add(await connectClient(tb.mqttUrl, { clientId: 'only-client' }));
  });

  it('basic credentials, username and password (any client id); a wrong password is refused', async () => {
    resources.add(await connectClient(tb.mqttUrl, { clientId: 'random-1', username: 'bob', password: 'secret' }));
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 5, username: 'bob', password: 'nope' }), 0x86);
  });

  it('basic credentials, all three: the (client id, username) pair with its password; a wrong one fails at once', async () => {
    resources.add(await connectClient(tb.mqttUrl, { clientId: 'c3', username: 'u3', password: 'p3' }));
    assert.equal(
      await connackCode(tb.mqttUrl, { protocolVersion: 5, clientId: 'c3', username: 'u3', password: 'bad' }),
      0x86,
    );
    assert.equal(
      await connackCode(tb.mqttUrl, { protocolVersion: 5, clientId: 'other', username: 'u3', password: 'p3' }),
      0x86,
    );
  });

  it('username or client id "provision" is a provisioning session: other topics are refused', async () => {
    const session = resources.add(await connectClient(tb.mqttUrl, { protocolVersion: 5, username: 'provision' }));
    assert.deepEqual(await subackCodes(session.client, ['/provision/response', 'v1/devices/me/attributes']), [0, 0x8f]);
    const closed = clientClosed(session.client);
    session.client.publish('v1/devices/me/telemetry', '{"a":1}', { qos: 1 });
    await closed; // §3.6: any other PUBLISH closes the provisioning session
  });

  it('an X.509 client certificate registered by its SHA-256 names the device on the TLS listener', async () => {
    const certificates = tb.certificates!;
    const der = new X509Certificate(readFileSync(certificates.clientCertPath)).raw;
    await tb.createDevice('x509-device', { type: 'X509_CERTIFICATE', certificateHash: certificateHash(der) });
    const device = resources.add(
      await connectClient(tb.mqttsUrl!, {
        protocolVersion: 5,
        ca: readFileSync(certificates.caCertPath),
        cert: readFileSync(certificates.clientCertPath),
        key: readFileSync(certificates.clientKeyPath),
      }),
    );
    await device.client.publishAsync('v1/devices/me/telemetry', '{"viaCert":1}', { qos: 1 });
    const found = await tb.platform.store.getDeviceByName(tb.org.id, 'x509-device');
    const latest = await tb.platform.store.latestTelemetry(found!.id, ['viaCert']);
    assert.equal(latest[0]?.value, 1);
  });

  // The broker's own takeover is by client id ([MQTT-3.1.4-3]); one session per device is ThingsBoard's rule.
  it('a device connecting again under another client id takes over: the older connection gets 0x8E', async () => {
    const first = resources.add(
      await connectClient(tb.mqttUrl, { protocolVersion: 5, username: token, clientId: 'a' }),
    );
    const disconnected = serverDisconnect(first.client);
    const second = resources.add(
      await connectClient(tb.mqttUrl, { protocolVersion: 5, username: token, clientId: 'b' }),
    );
    const packet = await disconnected;
    assert.equal(packet.reasonCode, 0x8e);
    assert.equal(second.client.connected, true);
  });
});

describe('ThingsBoard CONNECT with anonymous access allowed', () => {
  let tb: TbServer;
  const resources = new Resources();
  before(async () => {
    tb = await startTbServer({ allowAnonymous: true });
  });
  afterEach(() => resources.closeAll());
  after(() => tb.close());

  it('a client with no credentials is a plain MQTT client with no ThingsBoard rights', async () => {
    const client = resources.add(await connectClient(tb.mqttUrl, { protocolVersion: 5, clientId: 'anon' }));
    assert.deepEqual(await subackCodes(client.client, ['plain/topic', 'v1/devices/me/attributes']), [0, 0x87]);
    assert.equal(await pubackCode(client.client, 'v1/devices/me/telemetry', '{"a":1}'), 0x87);
    await client.client.publishAsync('plain/topic', 'hello', { qos: 1 });
    const [message] = await client.waitForMessages(1);
    assert.equal(message?.payload, 'hello');
  });

  it('wrong credentials are still refused', async () => {
    assert.equal(await connackCode(tb.mqttUrl, { protocolVersion: 5, username: 'bad-token' }), 0x86);
  });
});
