/**
 * `POST /api/v1/provision` over real HTTP (200 with the status body for every ThingsBoard outcome, 400 for a body that
 * is not a JSON object) and X509_CERTIFICATE_CHAIN provisioning from a client certificate made by the test PKI.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { provisionHttpPlugin } from '../../src/dialects/thingsboard/provision-http.js';
import {
  provisionByCertificate,
  validateX509ChainSettings,
  x509ChainProvisionKey,
} from '../../src/dialects/thingsboard/provision-x509.js';
import { createLogger } from '../../src/observability/index.js';
import type { Organization } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';
import { generateTestCertificate, type TestCertificates } from '../helpers/certificates.js';

let dir: string;
let platform: Platform;
let org: Organization;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-tb-prov-'));
  platform = new Platform({
    store: await SqlitePlatformStore.open(join(dir, 'platform.db')),
    logger: createLogger('silent'),
  });
  org = await platform.entities.createOrganization({ name: 'Acme' });
});

afterEach(async () => {
  await platform.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /api/v1/provision', () => {
  let app: FastifyInstance;
  let url: string;

  beforeEach(async () => {
    await platform.entities.createProfile(org.id, {
      name: 'Sensors',
      provisioning: { strategy: 'ALLOW_CREATE_NEW_DEVICES', key: 'key-1', secret: 'secret-1' },
    });
    app = fastify();
    await app.register(provisionHttpPlugin(platform));
    url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/api/v1/provision`;
  });

  afterEach(async () => {
    await app.close();
  });

  async function post(body: string): Promise<{ status: number; json: unknown }> {
    const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    return { status: response.status, json: await response.json() };
  }

  test('SUCCESS, NOT_FOUND and FAILURE are all 200 with the status in the body', async () => {
    const request = { deviceName: 'Dev 1', provisionDeviceKey: 'key-1', provisionDeviceSecret: 'secret-1' };
    const first = await post(JSON.stringify({ ...request, token: 'http-token' }));
    assert.deepEqual(first, {
      status: 200,
      json: { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: 'http-token' },
    });
    assert.deepEqual(await post(JSON.stringify(request)), {
      status: 200,
      json: { status: 'FAILURE', errorMsg: 'Failed to provision device!' },
    });
    assert.deepEqual(await post(JSON.stringify({ ...request, provisionDeviceSecret: 'wrong' })), {
      status: 200,
      json: { status: 'NOT_FOUND', errorMsg: 'Provision data was not found!' },
    });
  });

  test('a body that is not JSON is 400 INVALID_JSON; missing fields are 400 INVALID_REQUEST', async () => {
    const bad = await post('{"provisionDeviceKey":');
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: string }).error, 'INVALID_JSON');
    const missing = await post(JSON.stringify({ provisionDeviceKey: 'key-1' }));
    assert.equal(missing.status, 400);
    assert.equal((missing.json as { error: string }).error, 'INVALID_REQUEST');
  });
});

describe('X509_CERTIFICATE_CHAIN', () => {
  let pki: TestCertificates;

  beforeEach(() => {
    pki = generateTestCertificate();
  });

  afterEach(() => {
    pki.cleanup();
  });

  /** What the TLS listener hands over for a verified client certificate (the fields provisioning reads). */
  function peerCertificateOf(pem: Buffer, cn: string): PeerCertificate {
    return { raw: new X509Certificate(pem).raw, subject: { CN: cn } } as unknown as PeerCertificate;
  }

  async function chainProfile(regex?: string): Promise<void> {
    const caCertificatePem = pki.caCert.toString('utf8');
    const provisioning = {
      strategy: 'X509_CERTIFICATE_CHAIN' as const,
      key: x509ChainProvisionKey(caCertificatePem),
      secret: '',
      caCertificatePem,
      ...(regex === undefined ? {} : { certificateRegex: regex }),
    };
    assert.equal(validateX509ChainSettings(provisioning), undefined);
    await platform.entities.createProfile(org.id, { name: 'Certified', provisioning });
  }

  test('a certificate issued by the profile CA creates the device named by its CN, once', async () => {
    await chainProfile();
    const certificate = peerCertificateOf(pki.clientCert, pki.clientCommonName);
    const created = await provisionByCertificate(platform, certificate);
    assert.equal(created?.device.name, 'test-client');
    const hash = createHash('sha256').update(certificate.raw).digest('hex');
    assert.deepEqual(created.credentials, { type: 'X509_CERTIFICATE', certificateHash: hash });
    const again = await provisionByCertificate(platform, certificate);
    assert.equal(again?.device.id, created.device.id);
  });

  test("the profile's regex picks the device name out of the CN", async () => {
    await chainProfile('^test-(.*)$');
    const created = await provisionByCertificate(platform, peerCertificateOf(pki.clientCert, pki.clientCommonName));
    assert.equal(created?.device.name, 'client');
  });

  test('a certificate from another CA provisions nothing', async () => {
    await chainProfile();
    const other = generateTestCertificate();
    try {
      assert.equal(
        await provisionByCertificate(platform, peerCertificateOf(other.clientCert, 'test-client')),
        undefined,
      );
      assert.equal(await platform.store.getDeviceByName(org.id, 'test-client'), undefined);
    } finally {
      other.cleanup();
    }
  });
});
