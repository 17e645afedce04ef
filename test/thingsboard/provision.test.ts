/**
 * ThingsBoard device provisioning (device-apis.md §3.6) over real MQTT clients and a real broker: every reply the spec
 * lists, each credentials type, both key/secret strategies, the protobuf fallback, and the request as the source
 * document and `mosquitto_rr` send it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fixedMessage } from '../../src/dialects/thingsboard/protobuf-messages.js';
import { PROVISION_STATE_KEY, PROVISIONED_STATE } from '../../src/dialects/thingsboard/provision.js';
import type { DeviceProfile } from '../../src/platform/model.js';
import { generateTestCertificate } from '../helpers/certificates.js';
import { clientClosed, connectClient, Resources } from '../helpers/mqtt-js.js';
import { startGatewayTestBed, type GatewayTestBed } from './gateway-helpers.js';

const KEY = 'u7piawkboq8v32dmcmpp';
const SECRET = 'jpmwdn8ptlswmf4m29bw';
const PRE_KEY = 'pre-provisioned-key';
const PRE_SECRET = 'pre-provisioned-secret';
const NOT_FOUND = { status: 'NOT_FOUND', errorMsg: 'Provision data was not found!' };
const FAILURE = { status: 'FAILURE', errorMsg: 'Failed to provision device!' };

let bed: GatewayTestBed;
let resources: Resources;
let newDevices: DeviceProfile;
let preProvisioned: DeviceProfile;

beforeEach(async () => {
  resources = new Resources();
  bed = await startGatewayTestBed();
  newDevices = await bed.platform.entities.createProfile(bed.org.id, {
    name: 'Sensors',
    provisioning: { strategy: 'ALLOW_CREATE_NEW_DEVICES', key: KEY, secret: SECRET },
  });
  preProvisioned = await bed.platform.entities.createProfile(bed.org.id, {
    name: 'Meters',
    provisioning: { strategy: 'CHECK_PRE_PROVISIONED_DEVICES', key: PRE_KEY, secret: PRE_SECRET },
  });
});

afterEach(async () => {
  await resources.closeAll();
  await bed.close();
});

/** Connects as `provision`, subscribes to the response topic, publishes `body` and returns the reply's bytes. */
async function provisionOverMqtt(body: string | Buffer, protocolVersion: 4 | 5 = 4): Promise<Buffer> {
  const device = resources.add(await connectClient(bed.url, { username: 'provision', protocolVersion }));
  await device.client.subscribeAsync('/provision/response', { qos: 1 });
  await device.client.publishAsync('/provision/request', body, { qos: 1 });
  const [reply] = await device.waitForMessages(1);
  return reply!.packet.payload as Buffer;
}

async function provisionJson(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  return JSON.parse((await provisionOverMqtt(JSON.stringify(request))).toString('utf8')) as Record<string, unknown>;
}

describe('ALLOW_CREATE_NEW_DEVICES', () => {
  test('a new device name gets SUCCESS with a generated access token that then connects', async () => {
    const reply = await provisionJson({ deviceName: 'Dev 1', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    assert.equal(reply['status'], 'SUCCESS');
    assert.equal(reply['credentialsType'], 'ACCESS_TOKEN');
    const token = reply['credentialsValue'];
    assert.ok(typeof token === 'string' && /^[A-Za-z0-9]{20}$/.test(token));
    const found = await bed.platform.store.findByAccessToken(token);
    assert.equal(found?.device.name, 'Dev 1');
    assert.equal(found.device.profileId, newDevices.id);
    const connected = resources.add(await connectClient(bed.url, { username: token }));
    assert.equal(connected.connack.returnCode, 0);
  });

  test('the device gets the server attribute provisionState = "provisioned"', async () => {
    await provisionJson({ deviceName: 'Dev 1', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    const device = await bed.platform.store.getDeviceByName(bed.org.id, 'Dev 1');
    const [state] = await bed.platform.store.getAttributes(device!.id, 'server', [PROVISION_STATE_KEY]);
    assert.equal(state?.value, PROVISIONED_STATE);
  });

  test('a token chosen by the device is the one it gets', async () => {
    const reply = await provisionJson({
      deviceName: 'Dev 1',
      provisionDeviceKey: KEY,
      provisionDeviceSecret: SECRET,
      credentialsType: 'ACCESS_TOKEN',
      token: 'my-own-token',
    });
    assert.deepEqual(reply, { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: 'my-own-token' });
  });

  test('MQTT_BASIC answers credentialsValue as {clientId, userName, password} and stores those credentials', async () => {
    const reply = await provisionJson({
      deviceName: 'Dev 1',
      provisionDeviceKey: KEY,
      provisionDeviceSecret: SECRET,
      credentialsType: 'MQTT_BASIC',
      clientId: 'dev1-client',
      username: 'dev1-user',
      password: 'dev1-pass',
    });
    assert.deepEqual(reply, {
      status: 'SUCCESS',
      credentialsType: 'MQTT_BASIC',
      credentialsValue: { clientId: 'dev1-client', userName: 'dev1-user', password: 'dev1-pass' },
    });
    const found = await bed.platform.store.findByBasicCredentials('dev1-client', 'dev1-user');
    assert.equal(found?.device.name, 'Dev 1');
  });

  test('X509_CERTIFICATE registers the certificate sent as hash and answers it as credentialsValue', async () => {
    const pki = generateTestCertificate();
    try {
      const pem = pki.clientCert.toString('utf8');
      const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
      const reply = await provisionJson({
        deviceName: 'Dev 1',
        provisionDeviceKey: KEY,
        provisionDeviceSecret: SECRET,
        credentialsType: 'X509_CERTIFICATE',
        hash: body,
      });
      assert.deepEqual(reply, { status: 'SUCCESS', credentialsType: 'X509_CERTIFICATE', credentialsValue: body });
      const der = new X509Certificate(pem).raw;
      const found = await bed.platform.store.findByCertificateHash(createHash('sha256').update(der).digest('hex'));
      assert.equal(found?.device.name, 'Dev 1');
    } finally {
      pki.cleanup();
    }
  });

  test('without deviceName a random 20-character name is generated', async () => {
    const reply = await provisionJson({ provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    assert.equal(reply['status'], 'SUCCESS');
    const found = await bed.platform.store.findByAccessToken(String(reply['credentialsValue']));
    assert.match(found!.device.name, /^[A-Za-z0-9]{20}$/);
  });

  test('a name that already exists answers FAILURE', async () => {
    await bed.platform.entities.createDevice(bed.org.id, { name: 'Dev 1' });
    const reply = await provisionJson({ deviceName: 'Dev 1', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    assert.deepEqual(reply, FAILURE);
  });

  test('an all-blank device name answers FAILURE', async () => {
    const reply = await provisionJson({ deviceName: '   ', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    assert.deepEqual(reply, FAILURE);
  });
});

describe('NOT_FOUND', () => {
  test('a wrong secret, an unknown key and an empty key all answer NOT_FOUND', async () => {
    assert.deepEqual(await provisionJson({ provisionDeviceKey: KEY, provisionDeviceSecret: 'wrong' }), NOT_FOUND);
    assert.deepEqual(await provisionJson({ provisionDeviceKey: 'nope', provisionDeviceSecret: SECRET }), NOT_FOUND);
    assert.deepEqual(await provisionJson({ provisionDeviceKey: '', provisionDeviceSecret: SECRET }), NOT_FOUND);
    assert.equal(await bed.platform.store.getDeviceByName(bed.org.id, 'Dev 1'), undefined);
  });
});

describe('CHECK_PRE_PROVISIONED_DEVICES', () => {
  test('a device created beforehand gets its own credentials once; a second request answers FAILURE', async () => {
    const created = await bed.platform.entities.createDevice(bed.org.id, {
      name: 'Meter 7',
      profileId: preProvisioned.id,
    });
    assert.equal(created.credentials.type, 'ACCESS_TOKEN');
    const request = { deviceName: 'Meter 7', provisionDeviceKey: PRE_KEY, provisionDeviceSecret: PRE_SECRET };
    assert.deepEqual(await provisionJson(request), {
      status: 'SUCCESS',
      credentialsType: 'ACCESS_TOKEN',
      credentialsValue: created.credentials.accessToken,
    });
    assert.deepEqual(await provisionJson(request), FAILURE);
  });

  test('a device that does not exist, or exists in another profile, answers FAILURE', async () => {
    await bed.platform.entities.createDevice(bed.org.id, { name: 'Elsewhere' });
    const missing = { deviceName: 'Meter 8', provisionDeviceKey: PRE_KEY, provisionDeviceSecret: PRE_SECRET };
    assert.deepEqual(await provisionJson(missing), FAILURE);
    assert.deepEqual(await provisionJson({ ...missing, deviceName: 'Elsewhere' }), FAILURE);
  });
});

describe('malformed requests', () => {
  test('a request without provisionDeviceSecret is refused with 0x83 and the connection closed (MQTT 5)', async () => {
    const device = resources.add(await connectClient(bed.url, { username: 'provision', protocolVersion: 5 }));
    const disconnect = new Promise<number | undefined>((resolve) => {
      device.client.once('disconnect', (packet) => resolve(packet.reasonCode));
    });
    device.client.publish('/provision/request', JSON.stringify({ provisionDeviceKey: KEY }), { qos: 1 });
    assert.equal(await disconnect, 0x83);
    await clientClosed(device.client);
  });
});

describe('protobuf', () => {
  test('a ProvisionDeviceRequestMsg is answered with a ProvisionDeviceResponseMsg', async () => {
    const Request = fixedMessage('transport.ProvisionDeviceRequestMsg');
    const Response = fixedMessage('transport.ProvisionDeviceResponseMsg');
    const request = Request.encode(
      Request.fromObject({
        deviceName: 'Proto Dev',
        credentialsType: 'ACCESS_TOKEN',
        provisionDeviceCredentialsMsg: { provisionDeviceKey: KEY, provisionDeviceSecret: SECRET },
        credentialsDataProto: { validateDeviceTokenRequestMsg: { token: 'proto-token' } },
      }),
    ).finish();
    // ACCESS_TOKEN is enum value 0, proto3's default: on the wire it is absent, so read with defaults.
    const reply = Response.toObject(Response.decode(await provisionOverMqtt(Buffer.from(request), 5)), {
      enums: String,
      defaults: true,
    });
    assert.deepEqual(reply, { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: 'proto-token' });
    assert.equal((await bed.platform.store.findByAccessToken('proto-token'))?.device.name, 'Proto Dev');
  });

  test('a protobuf request with a wrong secret is answered NOT_FOUND in protobuf', async () => {
    const Request = fixedMessage('transport.ProvisionDeviceRequestMsg');
    const Response = fixedMessage('transport.ProvisionDeviceResponseMsg');
    const request = Request.encode(
      Request.fromObject({ provisionDeviceCredentialsMsg: { provisionDeviceKey: KEY, provisionDeviceSecret: 'x' } }),
    ).finish();
    const reply = Response.toObject(Response.decode(await provisionOverMqtt(Buffer.from(request))), { enums: String });
    assert.deepEqual(reply, { status: 'NOT_FOUND' });
  });
});

describe('the source document and mosquitto', () => {
  test('mosquitto_rr with the documented request body gets SUCCESS on /provision/response', async () => {
    // The source document's request: deviceName, provisionDeviceKey, provisionDeviceSecret, as username `provision`.
    const body = JSON.stringify({ deviceName: 'DEVICE_NAME', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
    const { stdout } = await promisify(execFile)(
      '/usr/bin/mosquitto_rr',
      ['-h', '127.0.0.1', '-p', String(bed.port), '-u', 'provision', '-q', '1', '-t', '/provision/request'].concat([
        '-e',
        '/provision/response',
        '-m',
        body,
        '-W',
        '5',
      ]),
      { timeout: 10_000 },
    );
    const reply = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(reply['status'], 'SUCCESS');
    assert.equal(reply['credentialsType'], 'ACCESS_TOKEN');
    assert.ok((await bed.platform.store.getDeviceByName(bed.org.id, 'DEVICE_NAME')) !== undefined);
  });
});
