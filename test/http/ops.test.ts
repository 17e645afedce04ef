import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Device } from '../../src/platform/model.js';
import { startApi, type Api } from './harness.js';

/** Reads an SSE response until `predicate` holds for the text so far (or 5 s pass). */
async function readUntil(response: Response, predicate: (text: string) => boolean): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 5_000;
  while (!predicate(text) && Date.now() < deadline) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  await reader.cancel();
  return text;
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), 'condition not reached in 2 s');
}

describe('HTTP API: live streams, health, metrics and the OpenAPI document', () => {
  let api: Api;
  let device: Device;
  let other: Device;
  before(async () => {
    api = await startApi();
    device = (await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'streamed' } }))
      .json as Device;
    other = (await api.request('POST', '/api/devices', { auth: api.adminToken, body: { name: 'unrelated' } }))
      .json as Device;
  });
  after(async () => {
    await api.close();
  });

  test('a device stream receives that device’s telemetry as SSE and unsubscribes when the client leaves', async () => {
    const listenersBefore = api.platform.bus.listenerCount;
    const response = await fetch(`${api.baseUrl}/api/devices/${device.id}/stream`, {
      headers: { authorization: `Bearer ${api.adminToken}` },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    await waitFor(() => api.platform.bus.listenerCount === listenersBefore + 1);

    await api.platform.committed((done) => {
      api.platform.postTelemetry(other, [{ key: 'temperature', ts: 5, value: 99 }], done);
    });
    await api.platform.committed((done) => {
      api.platform.postTelemetry(device, [{ key: 'temperature', ts: 10, value: 21.5 }], done);
    });
    const text = await readUntil(response, (t) => t.includes('event: telemetry'));
    const frame = /event: telemetry\ndata: (.*)\n\n/.exec(text);
    assert.ok(frame?.[1] !== undefined, `no telemetry frame in ${JSON.stringify(text)}`);
    assert.deepEqual(JSON.parse(frame[1]), {
      kind: 'telemetry',
      orgId: api.orgId,
      deviceId: device.id,
      key: 'temperature',
      ts: 10,
      value: 21.5,
    });
    assert.ok(!text.includes(other.id), 'another device’s data is not in this stream');
    await waitFor(() => api.platform.bus.listenerCount === listenersBefore);
  });

  test('an organization stream carries every device’s changes and accepts ?access_token= (EventSource)', async () => {
    const response = await fetch(
      `${api.baseUrl}/api/organizations/${api.orgId}/stream?access_token=${encodeURIComponent(api.adminToken)}`,
    );
    assert.equal(response.status, 200);
    await waitFor(() => api.platform.bus.listenerCount > 0);
    await api.platform.committed((done) => {
      api.platform.postAttributes(other, 'server', { floor: 2 }, done, 20);
    });
    const text = await readUntil(response, (t) => t.includes('event: attribute'));
    assert.match(text, /event: attribute\ndata: .*"deviceId":"[^"]+".*"key":"floor"/);
    const unauthenticated = await fetch(`${api.baseUrl}/api/organizations/${api.orgId}/stream`);
    assert.equal(unauthenticated.status, 401);
    await unauthenticated.body?.cancel();
  });

  test('GET /healthz is 200 {"status":"ok"} without credentials', async () => {
    const response = await api.request('GET', '/healthz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, { status: 'ok' });
  });

  test('GET /metrics is Prometheus text with broker, store, HTTP and dialect counters', async () => {
    const response = await fetch(`${api.baseUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    assert.match(text, /^switchboard_mqtt_clients_connected 3$/m);
    assert.match(text, /^switchboard_mqtt_messages_received_total 41$/m);
    assert.match(text, /^switchboard_mqtt_messages_sent_total 17$/m);
    assert.match(text, /^switchboard_mqtt_messages_dropped_total 2$/m);
    assert.match(text, /^switchboard_mqtt_store_commits_total 9$/m);
    assert.match(text, /^switchboard_mqtt_store_ops_queued_total 30$/m);
    assert.match(text, /^switchboard_mqtt_store_ops_written_total 12$/m);
    assert.match(text, /^switchboard_store_commits_total [1-9]\d*$/m);
    assert.match(text, /^# TYPE switchboard_store_last_commit_seconds gauge$/m);
    assert.match(text, /^switchboard_store_write_seconds_count\{outcome="committed"\} [1-9]\d*$/m);
    assert.match(text, /^# TYPE switchboard_dialect_messages_total counter$/m);
    assert.match(text, /^switchboard_http_requests_total\{method="POST",status="201"\} \d+$/m);
  });

  test('GET /api/docs is an OpenAPI document listing the management routes', async () => {
    for (const path of ['/api/docs', '/api/docs/json']) {
      const response = await api.request('GET', path);
      assert.equal(response.status, 200);
      const doc = response.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
      assert.match(doc.openapi, /^3\./);
      const expected: [string, string[]][] = [
        ['/api/auth/login', ['post']],
        ['/api/organizations', ['get', 'post']],
        ['/api/organizations/{id}', ['get', 'put', 'delete']],
        ['/api/zones', ['get', 'post']],
        ['/api/systems', ['get', 'post']],
        ['/api/profiles', ['get', 'post']],
        ['/api/devices', ['get', 'post']],
        ['/api/devices/{id}', ['get', 'put', 'delete']],
        ['/api/devices/{id}/credentials', ['get', 'put']],
        ['/api/devices/{id}/telemetry/latest', ['get']],
        ['/api/devices/{id}/telemetry', ['get']],
        ['/api/devices/{id}/attributes/{scope}', ['get', 'post', 'delete']],
        ['/api/devices/{id}/rpc', ['post']],
        ['/api/rpc/{rpcId}', ['get']],
        ['/api/devices/{id}/stream', ['get']],
        ['/api/organizations/{id}/stream', ['get']],
        ['/api/users', ['get', 'post']],
        ['/api/api-keys', ['get', 'post']],
        ['/healthz', ['get']],
        ['/metrics', ['get']],
      ];
      for (const [route, methods] of expected) {
        for (const method of methods) {
          assert.ok(doc.paths[route]?.[method] !== undefined, `${path} lacks ${method.toUpperCase()} ${route}`);
        }
      }
    }
  });
});
