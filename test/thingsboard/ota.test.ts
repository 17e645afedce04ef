/**
 * Firmware and software updates the ThingsBoard way (device-apis.md §3.2, §3.10), over a whole Switchboard on SQLite
 * and on PostgreSQL: a package uploaded through the management API and assigned to a profile reaches the device as
 * `fw_…` shared attributes; the device downloads it in chunks over MQTT (MQTT.js, and mosquitto_rr)
 * and over HTTP; a device assignment wins over the profile's; errors go to `v2/fw/error`.
 */
import { dropTestSchemas, PG_TEST_URL, postgresSkipReason } from '../helpers/postgres.js';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Device } from '../../src/platform/model.js';
import { connectClient, Resources, startTestServer, type DeepPartial, type TestServer } from '../helpers/index.js';
import type { Config } from '../../src/config/index.js';

const run = promisify(execFile);
const pgUrl = PG_TEST_URL;

const FIRMWARE = randomBytes(10_000);
const SCHEMA = `sb_ota_${randomBytes(5).toString('hex')}`;
const backends: { name: string; overrides: DeepPartial<Config>; skip: string | undefined }[] = [
  { name: 'SQLite', overrides: {}, skip: undefined },
  {
    name: 'PostgreSQL',
    overrides: { database: { url: pgUrl, schema: SCHEMA } },
    skip: await postgresSkipReason(),
  },
];

for (const backend of backends) {
  describe(`OTA updates on ${backend.name}`, backend.skip === undefined ? {} : { skip: backend.skip }, () => {
    let server: TestServer;
    let adminToken: string;
    let device: Device;
    let token: string;
    let packageId: string;
    const resources = new Resources();

    const api = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
      const response = await fetch(`${server.httpUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': contentType }),
        },
        ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
      });
      return response;
    };

    before(async () => {
      server = await startTestServer({ adminPassword: 'admin-password-1', ...backend.overrides });
      const login = await fetch(`${server.httpUrl}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'admin-password-1' }),
      });
      adminToken = ((await login.json()) as { token: string }).token;
      const created = await api('POST', '/api/devices', { name: 'ota-device' });
      const body = (await created.json()) as Device & { credentials: { accessToken: string } };
      device = body;
      token = body.credentials.accessToken;
    });
    after(async () => {
      await resources.closeAll();
      await server.close();
      if (backend.skip === undefined && backend.name === 'PostgreSQL') await dropTestSchemas([SCHEMA]);
    });

    it('an uploaded package answers 201 with its size and SHA-256; the same version again is 409', async () => {
      const path = '/api/ota-packages?type=FIRMWARE&title=thermo-fw&version=1.2.0';
      const created = await api('POST', path, FIRMWARE, 'application/octet-stream');
      assert.equal(created.status, 201);
      const pkg = (await created.json()) as { id: string; size: number; checksum: string; checksumAlgorithm: string };
      assert.equal(pkg.size, FIRMWARE.length);
      assert.equal(pkg.checksum, createHash('sha256').update(FIRMWARE).digest('hex'));
      assert.equal(pkg.checksumAlgorithm, 'SHA256');
      packageId = pkg.id;
      assert.equal((await api('POST', path, FIRMWARE, 'application/octet-stream')).status, 409);
      const data = await api('GET', `/api/ota-packages/${packageId}/data`);
      assert.deepEqual(Buffer.from(await data.arrayBuffer()), FIRMWARE);
    });

    it("assigning the package to the device's profile sets its fw_ shared attributes, which reach it live", async () => {
      const client = resources.add(await connectClient(server.mqttUrl, { username: token, protocolVersion: 5 }));
      await client.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
      const assigned = await api('PUT', `/api/profiles/${device.profileId}/ota/firmware`, { packageId });
      assert.equal(assigned.status, 204);
      const [update] = await client.waitForMessages(1);
      assert.deepEqual(JSON.parse(update!.payload), {
        fw_title: 'thermo-fw',
        fw_version: '1.2.0',
        fw_size: FIRMWARE.length,
        fw_checksum: createHash('sha256').update(FIRMWARE).digest('hex'),
        fw_checksum_algorithm: 'SHA256',
      });
    });

    it('the device downloads the package over MQTT in the chunk size it asks for, empty past the end', async () => {
      const client = resources.add(await connectClient(server.mqttUrl, { username: token, protocolVersion: 4 }));
      await client.client.subscribeAsync('v2/fw/response/+/chunk/+', { qos: 1 });
      const chunkSize = 4096;
      const parts: Buffer[] = [];
      for (let chunk = 0; ; chunk++) {
        await client.client.publishAsync(`v2/fw/request/7/chunk/${String(chunk)}`, String(chunkSize), { qos: 1 });
        const [reply] = await client.waitForMessages(chunk + 1);
        const message = client.messages[chunk]!;
        assert.equal(message.topic, `v2/fw/response/7/chunk/${String(chunk)}`);
        assert.ok(reply);
        const bytes = message.packet.payload as Buffer;
        if (bytes.length === 0) break;
        parts.push(bytes);
      }
      assert.equal(parts.length, Math.ceil(FIRMWARE.length / chunkSize));
      assert.deepEqual(Buffer.concat(parts), FIRMWARE);
    });

    it('mosquitto_rr gets the whole package when it asks with an empty chunk size', async () => {
      // One connection subscribes and asks: a second connection of the same device would take its session over.
      const { stdout } = await run(
        '/usr/bin/mosquitto_rr',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(server.mqttPort),
          '-u',
          token,
          '-q',
          '1',
          '-t',
          'v2/fw/request/1/chunk/0',
        ].concat(['-e', 'v2/fw/response/1/chunk/0', '-n', '-N', '-W', '5']),
        { timeout: 10_000, encoding: 'buffer' },
      );
      assert.deepEqual(stdout, FIRMWARE);
    });

    it('a malformed chunk size, and a software request without a package, get a message on the error topic', async () => {
      const client = resources.add(await connectClient(server.mqttUrl, { username: token, protocolVersion: 5 }));
      await client.client.subscribeAsync('v2/fw/error', { qos: 0 });
      await client.client.subscribeAsync('v2/sw/error', { qos: 0 });
      await client.client.publishAsync('v2/fw/request/1/chunk/0', 'lots', { qos: 1 });
      await client.client.publishAsync('v2/sw/request/1/chunk/0', '100', { qos: 1 });
      await client.waitForMessages(2);
      assert.match(client.messages.find((m) => m.topic === 'v2/fw/error')!.payload, /invalid chunk size/);
      assert.match(client.messages.find((m) => m.topic === 'v2/sw/error')!.payload, /no software is assigned/);
    });

    it('the HTTP device API serves a chunk; a wrong version is 400, an unknown token 401, software 404', async () => {
      const base = `${server.httpUrl}/api/v1/${token}/firmware?title=thermo-fw&version=1.2.0`;
      const chunk = await fetch(`${base}&size=1000&chunk=3`);
      assert.equal(chunk.status, 200);
      assert.deepEqual(Buffer.from(await chunk.arrayBuffer()), FIRMWARE.subarray(3000, 4000));
      const whole = await fetch(base);
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), FIRMWARE);
      assert.equal((await fetch(`${server.httpUrl}/api/v1/${token}/firmware?title=thermo-fw&version=9`)).status, 400);
      assert.equal((await fetch(`${server.httpUrl}/api/v1/nope/firmware?title=a&version=b`)).status, 401);
      assert.equal((await fetch(`${server.httpUrl}/api/v1/${token}/software?title=a&version=b`)).status, 404);
    });

    it("a device's own package wins over its profile's; unassigning both removes the fw_ attributes", async () => {
      const other = Buffer.from('second firmware');
      const created = await api(
        'POST',
        '/api/ota-packages?type=FIRMWARE&title=thermo-fw&version=2.0.0',
        other,
        'application/octet-stream',
      );
      const second = ((await created.json()) as { id: string }).id;
      assert.equal((await api('PUT', `/api/devices/${device.id}/ota/firmware`, { packageId: second })).status, 204);
      const attributes = async () =>
        Object.fromEntries(
          (await server.server.platform.store.getAttributes(device.id, 'shared')).map((a) => [a.key, a.value]),
        );
      assert.equal((await attributes())['fw_version'], '2.0.0');
      const served = await fetch(`${server.httpUrl}/api/v1/${token}/firmware?title=thermo-fw&version=2.0.0`);
      assert.equal(await served.text(), 'second firmware');
      // Still assigned to the profile: the first package cannot be deleted yet.
      assert.equal((await api('DELETE', `/api/ota-packages/${packageId}`)).status, 409);

      assert.equal((await api('PUT', `/api/devices/${device.id}/ota/firmware`, { packageId: null })).status, 204);
      assert.equal((await attributes())['fw_version'], '1.2.0', 'back to the profile’s package');
      assert.equal(
        (await api('PUT', `/api/profiles/${device.profileId}/ota/firmware`, { packageId: null })).status,
        204,
      );
      assert.equal((await attributes())['fw_version'], undefined);
      assert.equal((await api('DELETE', `/api/ota-packages/${packageId}`)).status, 204);
    });
  });
}
