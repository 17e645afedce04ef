import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AttributeUpdate, DeviceLink } from '../../src/platform/device-links.js';
import type { Device, Rpc, TelemetryPoint } from '../../src/platform/model.js';
import { errorCode, startApi, type Api } from './harness.js';

/** The device side of the downlink contract: what a dialect attaches for a connected device. */
class ReplyingDevice implements DeviceLink {
  readonly updates: AttributeUpdate[] = [];
  readonly rpcs: Rpc[] = [];
  readonly #api: Api;
  readonly #isReplying: boolean;

  constructor(api: Api, options: { isReplying: boolean }) {
    this.#api = api;
    this.#isReplying = options.isReplying;
  }

  sendRpc(rpc: Rpc, onDelivered: () => void): boolean {
    this.rpcs.push(rpc);
    onDelivered();
    if (this.#isReplying && !rpc.isOneway) {
      // The device answers on its own turn, as a real connection would.
      setImmediate(() => {
        this.#api.platform.rpc.reply(rpc.deviceId, rpc.requestId, { method: rpc.method, echo: rpc.params });
      });
    }
    return true;
  }

  sendAttributeUpdate(update: AttributeUpdate): void {
    this.updates.push(update);
  }
}

describe('HTTP API: telemetry, attributes and RPC', () => {
  let api: Api;
  let device: Device;
  before(async () => {
    api = await startApi({ rpcMinTimeoutMs: 200 });
    const created = await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'meter' } });
    device = created.json as Device;
    const points: TelemetryPoint[] = [];
    for (let i = 0; i < 10; i++) {
      points.push({ key: 'temperature', ts: 1_000 + i * 100, value: 20 + i });
      points.push({ key: 'state', ts: 1_000 + i * 100, value: i % 2 === 0 ? 'on' : 'off' });
    }
    await api.platform.committed((done) => {
      api.platform.postTelemetry(device, points, done);
    });
  });
  after(async () => {
    await api.close();
  });

  test('telemetry/latest answers the newest point of each key', async () => {
    const response = await api.request('GET', `/api/devices/${device.id}/telemetry/latest`, { auth: api.adminToken });
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, {
      temperature: { ts: 1_900, value: 29 },
      state: { ts: 1_900, value: 'off' },
    });
    const one = await api.request('GET', `/api/devices/${device.id}/telemetry/latest?keys=state`, {
      auth: api.adminToken,
    });
    assert.deepEqual(Object.keys(one.json as object), ['state']);
  });

  test('a raw range honours startTs (inclusive), endTs (exclusive), limit and order', async () => {
    const response = await api.request(
      'GET',
      `/api/devices/${device.id}/telemetry?keys=temperature&startTs=1200&endTs=1600&limit=3&order=ASC`,
      { auth: api.adminToken },
    );
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, {
      temperature: [
        { ts: 1_200, value: 22 },
        { ts: 1_300, value: 23 },
        { ts: 1_400, value: 24 },
      ],
    });
    const newest = await api.request('GET', `/api/devices/${device.id}/telemetry?keys=temperature,state&limit=1`, {
      auth: api.adminToken,
    });
    assert.deepEqual(newest.json, { temperature: [{ ts: 1_900, value: 29 }], state: [{ ts: 1_900, value: 'off' }] });
  });

  test('an aggregated range is computed per interval', async () => {
    const response = await api.request(
      'GET',
      `/api/devices/${device.id}/telemetry?keys=temperature&startTs=1000&endTs=2000&interval=500&agg=AVG&order=ASC`,
      { auth: api.adminToken },
    );
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, {
      temperature: [
        { ts: 1_000, value: 22 },
        { ts: 1_500, value: 27 },
      ],
    });
    const max = await api.request(
      'GET',
      `/api/devices/${device.id}/telemetry?keys=temperature&startTs=1000&endTs=2000&agg=MAX`,
      { auth: api.adminToken },
    );
    assert.deepEqual(max.json, { temperature: [{ ts: 1_000, value: 29 }] });
    const badRange = await api.request('GET', `/api/devices/${device.id}/telemetry?startTs=5&endTs=5`, {
      auth: api.adminToken,
    });
    assert.equal(badRange.status, 400);
    const badAgg = await api.request('GET', `/api/devices/${device.id}/telemetry?agg=MEDIAN`, { auth: api.adminToken });
    assert.equal(badAgg.status, 400);
  });

  test('attributes round-trip; a shared change reaches the connected device; client scope is read-only', async () => {
    const link = new ReplyingDevice(api, { isReplying: false });
    const detach = api.platform.links.attach(device.id, link);
    try {
      const path = `/api/devices/${device.id}/attributes`;
      const set = await api.request('POST', `${path}/shared`, {
        auth: api.adminToken,
        body: { targetTemperature: 21.5, mode: 'eco', schedule: { mon: [8, 18] } },
      });
      assert.equal(set.status, 200);
      assert.deepEqual(link.updates, [
        { values: { targetTemperature: 21.5, mode: 'eco', schedule: { mon: [8, 18] } }, deleted: [] },
      ]);
      const read = await api.request('GET', `${path}/shared`, { auth: api.adminToken });
      assert.deepEqual(read.json, { targetTemperature: 21.5, mode: 'eco', schedule: { mon: [8, 18] } });

      const server = await api.request('POST', `${path}/server`, { auth: api.adminToken, body: { floor: 3 } });
      assert.equal(server.status, 200);
      assert.equal(link.updates.length, 1, 'server attributes are not sent to the device');
      assert.deepEqual((await api.request('GET', `${path}/server`, { auth: api.adminToken })).json, { floor: 3 });

      const removed = await api.request('DELETE', `${path}/shared?keys=mode`, { auth: api.adminToken });
      assert.equal(removed.status, 204);
      assert.deepEqual(link.updates[1], { values: {}, deleted: ['mode'] });
      const after = await api.request('GET', `${path}/shared?keys=mode,targetTemperature`, { auth: api.adminToken });
      assert.deepEqual(after.json, { targetTemperature: 21.5 });

      const client = await api.request('POST', `${path}/client`, { auth: api.adminToken, body: { a: 1 } });
      assert.equal(client.status, 400);
      const nullValue = await api.request('POST', `${path}/server`, { auth: api.adminToken, body: { a: null } });
      assert.equal(nullValue.status, 400);
    } finally {
      detach();
    }
  });

  test('a two-way RPC answers 200 with the device’s reply', async () => {
    const link = new ReplyingDevice(api, { isReplying: true });
    const detach = api.platform.links.attach(device.id, link);
    try {
      const response = await api.request('POST', `/api/devices/${device.id}/rpc`, {
        auth: api.adminToken,
        body: { method: 'setGpio', params: { pin: 4, value: 1 } },
      });
      assert.equal(response.status, 200);
      assert.deepEqual(response.json, { method: 'setGpio', echo: { pin: 4, value: 1 } });
      const oneway = await api.request('POST', `/api/devices/${device.id}/rpc`, {
        auth: api.adminToken,
        body: { method: 'blink', params: {}, oneway: true },
      });
      assert.equal(oneway.status, 200);
      assert.equal(link.rpcs.at(-1)?.isOneway, true);
    } finally {
      detach();
    }
  });

  test('an RPC to a device with no connection is 504 at once; one the device never answers is 504 after the timeout', async () => {
    const offline = await api.request('POST', `/api/devices/${device.id}/rpc`, {
      auth: api.adminToken,
      body: { method: 'reboot', params: {} },
    });
    assert.equal(offline.status, 504);
    assert.equal(errorCode(offline), 'DEVICE_OFFLINE');

    const detach = api.platform.links.attach(device.id, new ReplyingDevice(api, { isReplying: false }));
    try {
      const silent = await api.request('POST', `/api/devices/${device.id}/rpc`, {
        auth: api.adminToken,
        body: { method: 'reboot', params: {}, timeout: 200 },
      });
      assert.equal(silent.status, 504);
      assert.equal(errorCode(silent), 'RPC_TIMEOUT');
    } finally {
      detach();
    }
  });

  test('a persistent RPC is 202 with its id; GET /api/rpc/{id} follows it to the reply', async () => {
    const queued = await api.request('POST', `/api/devices/${device.id}/rpc`, {
      auth: api.adminToken,
      body: { method: 'updateFirmware', params: { version: '2.0' }, persistent: true, timeout: 60_000 },
    });
    assert.equal(queued.status, 202);
    const { rpcId } = queued.json as { rpcId: string };
    const before = await api.request('GET', `/api/rpc/${rpcId}`, { auth: api.adminToken });
    assert.equal(before.status, 200);
    assert.equal((before.json as { status: string }).status, 'QUEUED');

    // The device connects: the queued call is delivered and answered.
    const detach = api.platform.links.attach(device.id, new ReplyingDevice(api, { isReplying: true }));
    try {
      let state: { status: string; response?: unknown } = { status: 'QUEUED' };
      for (let i = 0; i < 100 && state.status !== 'SUCCESSFUL'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        state = (await api.request('GET', `/api/rpc/${rpcId}`, { auth: api.adminToken })).json as typeof state;
      }
      assert.equal(state.status, 'SUCCESSFUL');
      assert.deepEqual(state.response, { method: 'updateFirmware', echo: { version: '2.0' } });
    } finally {
      detach();
    }
    assert.equal((await api.request('GET', '/api/rpc/no-such-rpc', { auth: api.adminToken })).status, 404);
  });
});
