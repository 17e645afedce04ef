/**
 * ThingsBoard's gateway API (device-apis.md §3.8) with a real MQTT.js gateway over a real broker: children created on
 * connect with their profile, telemetry and attributes stored per child, attribute requests answered in the code's
 * form, shared-attribute updates and server-side RPC delivered to the gateway for its children, claims, and the
 * single aggregated PUBACK with its reason codes (MQTT 5).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Device } from '../../src/platform/model.js';
import { connectClient, Resources, waitFor, type TestClient } from '../helpers/mqtt-js.js';
import { startGatewayTestBed, type GatewayTestBed } from './gateway-helpers.js';

let bed: GatewayTestBed;
let resources: Resources;
let gatewayToken: string;

beforeEach(async () => {
  resources = new Resources();
  bed = await startGatewayTestBed();
  const created = await bed.platform.entities.createDevice(bed.org.id, { name: 'Gateway 1', isGateway: true });
  assert.equal(created.credentials.type, 'ACCESS_TOKEN');
  gatewayToken = created.credentials.accessToken;
});

afterEach(async () => {
  await resources.closeAll();
  await bed.close();
});

async function connectGateway(): Promise<TestClient> {
  const gateway = resources.add(await connectClient(bed.url, { username: gatewayToken, protocolVersion: 5 }));
  await gateway.client.subscribeAsync(['v1/gateway/attributes', 'v1/gateway/attributes/response', 'v1/gateway/rpc'], {
    qos: 1,
  });
  return gateway;
}

/** Publishes at QoS 1 and resolves to the PUBACK's v5 reason code. */
async function publish(gateway: TestClient, topic: string, body: unknown): Promise<number> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    const packet = await gateway.client.publishAsync(topic, payload, { qos: 1 });
    return packet !== undefined && 'reasonCode' in packet ? (packet.reasonCode ?? 0) : 0;
  } catch (error) {
    // MQTT.js rejects a PUBACK reason >= 0x80 with an error carrying the code.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw error;
  }
}

async function child(name: string): Promise<Device> {
  const device = await bed.platform.store.getDeviceByName(bed.org.id, name);
  assert.ok(device !== undefined, `device ${name} exists`);
  return device;
}

test('v1/gateway/connect creates the child with its type as profile, linked to the gateway', async () => {
  const gateway = await connectGateway();
  assert.equal(await publish(gateway, 'v1/gateway/connect', { device: 'Sensor A', type: 'Thermometer' }), 0);
  const device = await child('Sensor A');
  const profile = await bed.platform.store.getProfile(device.profileId);
  assert.equal(profile?.name, 'Thermometer');
  const gatewayDevice = await child('Gateway 1');
  assert.equal(device.gatewayId, gatewayDevice.id);
  assert.equal(bed.platform.links.isConnected(device.id), true);
});

test('a child connected without a type gets the default profile, and disconnect unlinks it', async () => {
  const gateway = await connectGateway();
  assert.equal(await publish(gateway, 'v1/gateway/connect', { device: 'Sensor B' }), 0);
  const device = await child('Sensor B');
  assert.equal((await bed.platform.store.getProfile(device.profileId))?.name, 'default');
  assert.equal(await publish(gateway, 'v1/gateway/disconnect', { device: 'Sensor B' }), 0);
  assert.equal(bed.platform.links.isConnected(device.id), false);
});

test('gateway telemetry is stored per child, timestamped and flat entries with the typing rules', async () => {
  const gateway = await connectGateway();
  const reason = await publish(gateway, 'v1/gateway/telemetry', {
    'Sensor A': [
      { ts: 1_700_000_000_000, values: { temperature: 21.5, humidity: '40' } },
      {
        ts: 1_700_000_001_000,
        values: { temperature: 22 },
        metadata: { connector: 'mqtt', receivedTs: 1, publishedTs: 2 },
      },
    ],
    'Sensor B': [{ pressure: 1013, note: null }],
  });
  assert.equal(reason, 0);
  const a = await child('Sensor A');
  const latest = await bed.platform.store.latestTelemetry(a.id);
  const byKey = Object.fromEntries(latest.map((p) => [p.key, p]));
  assert.deepEqual(byKey['temperature'], { key: 'temperature', ts: 1_700_000_001_000, value: 22 });
  // ThingsBoard casts numeric strings to numbers.
  assert.deepEqual(byKey['humidity'], { key: 'humidity', ts: 1_700_000_000_000, value: 40 });
  const b = await child('Sensor B');
  const bPoints = await bed.platform.store.latestTelemetry(b.id);
  assert.deepEqual(
    bPoints.map((p) => [p.key, p.value]),
    [['pressure', 1013]],
  );
});

test('gateway attributes are stored as client attributes of each child', async () => {
  const gateway = await connectGateway();
  const reason = await publish(gateway, 'v1/gateway/attributes', {
    'Sensor A': { firmware: '1.2.3', battery: 87 },
    'Sensor B': { location: { lat: 1, lng: 2 } },
  });
  assert.equal(reason, 0);
  const a = await bed.platform.store.getAttributes((await child('Sensor A')).id, 'client');
  assert.deepEqual(Object.fromEntries(a.map((x) => [x.key, x.value])), { firmware: '1.2.3', battery: 87 });
  const b = await bed.platform.store.getAttributes((await child('Sensor B')).id, 'client');
  assert.deepEqual(b[0]?.value, { lat: 1, lng: 2 });
});

test('an attribute request answers one key as "value" and several as "values"', async () => {
  const gateway = await connectGateway();
  await publish(gateway, 'v1/gateway/connect', { device: 'Sensor A' });
  const device = await child('Sensor A');
  await bed.platform.committed((done) => {
    bed.platform.postAttributes(device, 'shared', { interval: 30, mode: 'eco' }, done);
  });
  await publish(gateway, 'v1/gateway/attributes/request', {
    id: 1,
    device: 'Sensor A',
    client: false,
    key: 'interval',
  });
  await publish(gateway, 'v1/gateway/attributes/request', {
    id: 2,
    device: 'Sensor A',
    client: false,
    keys: ['interval', 'mode'],
  });
  const responses = await gateway.waitForMessages(2, (m) => m.topic === 'v1/gateway/attributes/response');
  const byId = new Map(responses.map((m) => [(JSON.parse(m.payload) as { id: number }).id, JSON.parse(m.payload)]));
  assert.deepEqual(byId.get(1), { id: 1, device: 'Sensor A', value: 30 });
  assert.deepEqual(byId.get(2), { id: 2, device: 'Sensor A', values: { interval: 30, mode: 'eco' } });
});

test('the documented request form {"client":[keys]} is refused with 0x99, as ThingsBoard code refuses it', async () => {
  const gateway = await connectGateway();
  const reason = await publish(gateway, 'v1/gateway/attributes/request', {
    id: 3,
    device: 'Sensor A',
    client: ['a'],
    shared: ['b'],
  });
  assert.equal(reason, 0x99);
  assert.equal(gateway.client.connected, true);
});

test('shared attribute changes of a connected child reach the gateway with "device" and "deleted"', async () => {
  const gateway = await connectGateway();
  await publish(gateway, 'v1/gateway/connect', { device: 'Sensor A' });
  const device = await child('Sensor A');
  await bed.platform.committed((done) => {
    bed.platform.postAttributes(device, 'shared', { interval: 60 }, done);
  });
  await bed.platform.committed((done) => {
    bed.platform.deleteAttributes(device, 'shared', ['interval'], done);
  });
  const updates = await gateway.waitForMessages(2, (m) => m.topic === 'v1/gateway/attributes');
  assert.deepEqual(JSON.parse(updates[0]!.payload), { device: 'Sensor A', data: { interval: 60 } });
  assert.deepEqual(JSON.parse(updates[1]!.payload), { device: 'Sensor A', data: { deleted: ['interval'] } });
});

test('a two-way RPC to a child goes through the gateway and its reply completes the call', async () => {
  const gateway = await connectGateway();
  await publish(gateway, 'v1/gateway/connect', { device: 'Valve 1' });
  const device = await child('Valve 1');
  gateway.client.on('message', (topic, payload) => {
    if (topic !== 'v1/gateway/rpc') return;
    const request = JSON.parse(payload.toString()) as { device: string; data: { id: number; method: string } };
    const reply = { device: request.device, id: request.data.id, data: { opened: true, method: request.data.method } };
    gateway.client.publish('v1/gateway/rpc', JSON.stringify(reply), { qos: 1 });
  });
  const outcome = await bed.platform.rpc.call(device, {
    method: 'open',
    params: { percent: 50 },
    isOneway: false,
    isPersistent: false,
  });
  assert.equal(outcome.kind, 'done');
  assert.deepEqual(outcome.rpc.response, { opened: true, method: 'open' });
  const [sent] = gateway.messages.filter((m) => m.topic === 'v1/gateway/rpc');
  const body = JSON.parse(sent!.payload) as { device: string; data: { id: number; method: string; params: unknown } };
  assert.equal(body.device, 'Valve 1');
  assert.deepEqual({ method: body.data.method, params: body.data.params }, { method: 'open', params: { percent: 50 } });
  assert.equal(typeof body.data.id, 'number');
});

test('an RPC to a child of a gateway not subscribed to v1/gateway/rpc finds the device offline', async () => {
  const gateway = resources.add(await connectClient(bed.url, { username: gatewayToken, protocolVersion: 5 }));
  await publish(gateway, 'v1/gateway/connect', { device: 'Valve 2' });
  const outcome = await bed.platform.rpc.call(await child('Valve 2'), {
    method: 'open',
    params: null,
    isOneway: true,
    isPersistent: false,
  });
  assert.equal(outcome.kind, 'offline');
});

test('a gateway claim opens a claim on each child (server attribute claimingData)', async () => {
  const gateway = await connectGateway();
  const before = Date.now();
  assert.equal(
    await publish(gateway, 'v1/gateway/claim', { 'Sensor A': { secretKey: 's3cret', durationMs: 60_000 } }),
    0,
  );
  const [data] = await bed.platform.store.getAttributes((await child('Sensor A')).id, 'server', ['claimingData']);
  const value = data?.value as { secretKey: string; expirationTime: number };
  assert.equal(value.secretKey, 's3cret');
  assert.ok(value.expirationTime >= before + 60_000 && value.expirationTime <= Date.now() + 60_000);
});

test('malformed gateway JSON gets PUBACK 0x99 and the MQTT 5 session stays open', async () => {
  const gateway = await connectGateway();
  assert.equal(await publish(gateway, 'v1/gateway/telemetry', '{not json'), 0x99);
  assert.equal(await publish(gateway, 'v1/gateway/telemetry', { 'Sensor A': { temperature: 1 } }), 0x99);
  assert.equal(await publish(gateway, 'v1/gateway/connect', { type: 'no device' }), 0x99);
  assert.equal(gateway.client.connected, true);
  assert.equal(await bed.platform.store.getDeviceByName(bed.org.id, 'Sensor A'), undefined);
});

test('closing the gateway connection disconnects its children', async () => {
  const gateway = await connectGateway();
  await publish(gateway, 'v1/gateway/connect', { device: 'Sensor A' });
  const device = await child('Sensor A');
  assert.equal(bed.platform.links.isConnected(device.id), true);
  await gateway.client.endAsync();
  await waitFor(() => !bed.platform.links.isConnected(device.id), 'the child to be unlinked');
});
