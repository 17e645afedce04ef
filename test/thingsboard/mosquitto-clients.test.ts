/**
 * Debian's mosquitto clients on the device-apis.md §3.2 and §3.8 topics the source document's commands do not cover:
 * the v2 short topics, attribute requests and client-side RPC (`mosquitto_rr`: one connection subscribes and asks,
 * since a second connection of the same device would take its session over), server-side RPC received with
 * `mosquitto_sub` and answered with `mosquitto_pub`, claiming, and the gateway API.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLAIMING_DATA_KEY } from '../../src/dialects/thingsboard/index.js';
import type { Device } from '../../src/platform/model.js';
import type { Platform } from '../../src/platform/platform.js';
import { runMosquitto, startTestServer, type TestServer } from '../helpers/index.js';

const run = promisify(execFile);

/** The whole server (every dialect and extension wired as in production), with the server's own organization. */
interface Bed {
  platform: Platform;
  mqttPort: number;
  orgId: string;
  createDevice(name: string, isGateway?: boolean): Promise<{ device: Device; token: string }>;
  close(): Promise<void>;
}

async function startBed(): Promise<Bed> {
  const server: TestServer = await startTestServer();
  const platform = server.server.platform;
  const orgId = (await platform.store.listOrganizations())[0]!.id;
  return {
    platform,
    mqttPort: server.mqttPort,
    orgId,
    createDevice: async (name, isGateway = false) => {
      const { device, credentials } = await platform.entities.createDevice(orgId, { name, isGateway });
      assert.equal(credentials.type, 'ACCESS_TOKEN');
      return { device, token: credentials.type === 'ACCESS_TOKEN' ? credentials.accessToken : '' };
    },
    close: () => server.close(),
  };
}

describe('mosquitto clients on the ThingsBoard topics', () => {
  let tb: Bed;
  let device: Device;
  let token: string;

  before(async () => {
    tb = await startBed();
    ({ device, token } = await tb.createDevice('mosquitto-device'));
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'client', { model: 'T-1000' }, done));
    await tb.platform.committed((done) => tb.platform.postAttributes(device, 'shared', { interval: 30 }, done));
  });
  after(() => tb.close());

  const pub = async (username: string, topic: string, message: string): Promise<void> => {
    const { code, stderr } = await runMosquitto('mosquitto_pub', tb.mqttPort, [
      '-u',
      username,
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      message,
    ]).result;
    assert.equal(code, 0, stderr);
  };
  const rr = async (request: string, response: string, message: string): Promise<unknown> => {
    const { stdout } = await run(
      '/usr/bin/mosquitto_rr',
      ['-h', '127.0.0.1', '-p', String(tb.mqttPort), '-u', token, '-q', '1', '-t', request, '-e', response].concat([
        '-m',
        message,
        '-W',
        '5',
      ]),
      { timeout: 10_000 },
    );
    return JSON.parse(stdout) as unknown;
  };

  it('mosquitto_pub on v2/t and v2/a stores telemetry and client attributes (QoS 1: acknowledged once stored)', async () => {
    await pub(token, 'v2/t', '{"humidity":40}');
    await pub(token, 'v2/a', '{"firmware":"1.0.3"}');
    const [humidity] = await tb.platform.store.latestTelemetry(device.id, ['humidity']);
    assert.equal(humidity?.value, 40);
    const [firmware] = await tb.platform.store.getAttributes(device.id, 'client', ['firmware']);
    assert.equal(firmware?.value, '1.0.3');
  });

  it('mosquitto_rr gets attribute responses on v1 and v2 topics', async () => {
    assert.deepEqual(
      await rr(
        'v1/devices/me/attributes/request/1',
        'v1/devices/me/attributes/response/1',
        '{"clientKeys":"model","sharedKeys":"interval"}',
      ),
      { client: { model: 'T-1000' }, shared: { interval: 30 } },
    );
    assert.deepEqual(await rr('v2/a/req/2', 'v2/a/res/2', '{"sharedKeys":"interval"}'), { shared: { interval: 30 } });
  });

  it('mosquitto_rr calls the built-in getTime client-side RPC', async () => {
    const before = Date.now();
    const reply = (await rr(
      'v1/devices/me/rpc/request/5',
      'v1/devices/me/rpc/response/5',
      '{"method":"getTime","params":{}}',
    )) as {
      time: number;
    };
    assert.ok(reply.time >= before && reply.time <= Date.now());
  });

  it('mosquitto_sub receives a server-side RPC and mosquitto_pub answers it; the caller gets the reply', async () => {
    const sub = runMosquitto('mosquitto_sub', tb.mqttPort, [
      '-u',
      token,
      '-t',
      'v1/devices/me/rpc/request/+',
      '-C',
      '1',
      '-v',
    ]);
    // The call is sent once the device's connection has subscribed; until then it waits (lightweight, up to 10 s).
    const outcome = tb.platform.rpc.call(device, {
      method: 'setGpio',
      params: { pin: 4, value: 1 },
      isOneway: false,
      isPersistent: true,
      timeoutMs: 10_000,
    });
    const { stdout } = await sub.result;
    const match = /^v1\/devices\/me\/rpc\/request\/(\d+) (.*)$/.exec(stdout.trim());
    assert.ok(match, stdout);
    assert.deepEqual(JSON.parse(match[2]!), { method: 'setGpio', params: { pin: 4, value: 1 } });
    await pub(token, `v1/devices/me/rpc/response/${match[1]!}`, '{"pin":4,"value":1}');
    const queued = await outcome;
    const deadline = Date.now() + 5_000;
    let state = await tb.platform.rpc.get(queued.rpc.id);
    while (state?.status !== 'SUCCESSFUL' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      state = await tb.platform.rpc.get(queued.rpc.id);
    }
    assert.equal(state?.status, 'SUCCESSFUL');
    assert.deepEqual(state.response, { pin: 4, value: 1 });
  });

  it('mosquitto_pub on v1/devices/me/claim records the claiming secret', async () => {
    await pub(token, 'v1/devices/me/claim', '{"secretKey":"s3cret","durationMs":60000}');
    const [claim] = await tb.platform.store.getAttributes(device.id, 'server', [CLAIMING_DATA_KEY]);
    assert.equal((claim?.value as { secretKey?: string } | undefined)?.secretKey, 's3cret');
  });

  it('a gateway announces, reports and receives attribute updates for a child with mosquitto_pub and mosquitto_rr', async () => {
    const gateway = await tb.createDevice('mosquitto-gateway', true);
    const gatewayToken = gateway.token;
    await pub(gatewayToken, 'v1/gateway/connect', '{"device":"Meter 7","type":"meter"}');
    await pub(gatewayToken, 'v1/gateway/telemetry', '{"Meter 7":[{"ts":1700000000000,"values":{"kwh":12.5}}]}');
    await pub(gatewayToken, 'v1/gateway/attributes', '{"Meter 7":{"serial":"M7"}}');
    const child = await tb.platform.store.getDeviceByName(tb.orgId, 'Meter 7');
    assert.ok(child);
    assert.equal(child.gatewayId, gateway.device.id);
    assert.deepEqual(await tb.platform.store.latestTelemetry(child.id, ['kwh']), [
      { key: 'kwh', ts: 1_700_000_000_000, value: 12.5 },
    ]);
    assert.equal((await tb.platform.store.getAttributes(child.id, 'client', ['serial']))[0]?.value, 'M7');

    // Downlinks reach the children a gateway connection announced, so one connection must announce and listen:
    // mosquitto_rr publishes the connect and waits on v1/gateway/attributes.
    const listening = run(
      '/usr/bin/mosquitto_rr',
      ['-h', '127.0.0.1', '-p', String(tb.mqttPort), '-u', gatewayToken, '-q', '1', '-t', 'v1/gateway/connect'].concat([
        '-e',
        'v1/gateway/attributes',
        '-m',
        '{"device":"Meter 7"}',
        '-W',
        '5',
      ]),
      { timeout: 10_000 },
    );
    let received: { stdout: string } | undefined;
    void listening.then((result) => (received = result)).catch(() => undefined);
    const deadline = Date.now() + 5_000;
    for (let n = 0; received === undefined && Date.now() < deadline; n++) {
      await tb.platform.committed((done) => tb.platform.postAttributes(child, 'shared', { setpoint: n }, done));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { stdout } = await listening;
    const update = JSON.parse(stdout) as { device: string; data: Record<string, unknown> };
    assert.equal(update.device, 'Meter 7');
    assert.equal(typeof update.data['setpoint'], 'number');
  });
});
