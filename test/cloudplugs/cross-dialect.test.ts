/**
 * CloudPlugs and ThingsBoard side by side in one organization: a CloudPlugs thing's records and a ThingsBoard
 * device's telemetry are the same platform data, seen together by one management API query (the organization's live
 * stream) and read back per device with the same telemetry API.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources, withTimeout, WAIT_MS } from '../helpers/index.js';
import { startPlugServer, type PlugServer } from './helpers.js';

interface Frame {
  event: string;
  data: { kind: string; deviceId: string; key?: string; value?: unknown; stream?: string; data?: unknown };
}

/** Opens an SSE stream and collects its frames. */
async function openStream(url: string, token: string) {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
  assert.equal(response.status, 200);
  const frames: Frame[] = [];
  const reader = response.body!.getReader();
  let buffer = '';
  const pump = (async () => {
    const decoder = new TextDecoder();
    for (;;) {
      const chunk = (await reader.read().catch(() => undefined)) as { done: boolean; value?: Uint8Array } | undefined;
      if (chunk === undefined || chunk.done) return;
      const value = chunk.value;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) frames.push({ event, data: JSON.parse(data) as Frame['data'] });
      }
    }
  })();
  const waitUntil = async (what: string, condition: () => boolean): Promise<void> => {
    await withTimeout(
      (async () => {
        while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      WAIT_MS,
      what,
    );
  };
  return {
    frames,
    waitUntil,
    close: async () => {
      abort.abort();
      await pump;
    },
  };
}

describe('CloudPlugs and ThingsBoard in one organization', () => {
  let server: PlugServer;
  const resources = new Resources();

  before(async () => {
    server = await startPlugServer();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  it('a CloudPlugs record and ThingsBoard telemetry arrive in one organization stream and read back alike', async () => {
    const template = await server.createTemplate();
    const thing = await server.createThing(template, 'CROSS-CP');
    const created = await server.api('POST', '/api/devices', { name: 'cross-tb' });
    assert.equal(created.status, 201);
    const tb = created.body as { id: string; credentials: { accessToken: string } };

    const stream = resources.add(
      await openStream(`${server.test.httpUrl}/api/organizations/${server.orgId}/stream`, server.token),
    );
    const plugs = resources.add(await server.connectThing(thing));
    const tbDevice = resources.add(
      await connectClient(server.test.mqttUrl, { clientId: 'cross-tb', username: tb.credentials.accessToken }),
    );
    await plugs.client.publishAsync(`${thing.plugId}/data/temperature`, '{"data": 21.5, "at": 1700000000000}', {
      qos: 1,
    });
    await tbDevice.client.publishAsync(
      'v1/devices/me/telemetry',
      '{"ts": 1700000000500, "values": {"temperature": 25}}',
      { qos: 1 },
    );

    const telemetryOf = (deviceId: string) =>
      stream.frames.find(
        (f) => f.event === 'telemetry' && f.data.deviceId === deviceId && f.data.key === 'temperature',
      );
    await stream.waitUntil(
      'both devices’ telemetry in the stream',
      () => telemetryOf(thing.deviceId) !== undefined && telemetryOf(tb.id) !== undefined,
    );
    assert.equal(telemetryOf(thing.deviceId)?.data.value, 21.5);
    assert.equal(telemetryOf(tb.id)?.data.value, 25);
    // The record is also an event whose stream is its channel (what Medium One-style consumers read).
    const event = stream.frames.find((f) => f.event === 'event' && f.data.deviceId === thing.deviceId);
    assert.equal(event?.data.stream, 'temperature');
    assert.equal(event?.data.data, 21.5);

    for (const [deviceId, value] of [
      [thing.deviceId, 21.5],
      [tb.id, 25],
    ] as const) {
      const range = await server.api(
        'GET',
        `/api/devices/${deviceId}/telemetry?keys=temperature&startTs=1699999999000`,
      );
      assert.deepEqual(
        (range.body as Record<string, { value: unknown }[]>)['temperature']?.map((p) => p.value),
        [value],
      );
    }
  });

  it('a platform user (JWT over MQTT) reads its organization’s CloudPlugs records on +/data/#, not another’s', async () => {
    const other = await server.createOrganization();
    const otherThing = await server.createThing(
      await server.createTemplate('user-other', other.token),
      'USR-OUT',
      other.token,
    );
    const thing = await server.createThing(await server.createTemplate('user-model'), 'USR-IN');
    const user = resources.add(
      await connectClient(server.test.mqttUrl, {
        clientId: 'jwt-user',
        username: server.token,
        password: server.token,
      }),
    );
    await user.client.subscribeAsync('+/data/#');
    const outsider = resources.add(await server.connectThing(otherThing));
    await outsider.client.publishAsync(`${otherThing.plugId}/data/x`, '{"data": "theirs"}', { qos: 1 });
    const device = resources.add(await server.connectThing(thing));
    await device.client.publishAsync(`${thing.plugId}/data/x`, '{"data": "ours"}', { qos: 1 });
    // Deliveries keep commit order: once ours arrived, theirs (committed first) would have come before it.
    const messages = await user.waitForMessages(1);
    assert.deepEqual(
      messages.map((m) => m.topic),
      [`${thing.plugId}/data/x`],
    );
  });

  it('a ThingsBoard device cannot publish into the CloudPlugs namespace, nor a CloudPlugs thing into ThingsBoard’s', async () => {
    const template = await server.createTemplate();
    const thing = await server.createThing(template, 'CROSS-CP2');
    const created = await server.api('POST', '/api/devices', { name: 'cross-tb2' });
    const tb = created.body as { credentials: { accessToken: string } };
    const tbDevice = resources.add(
      await connectClient(server.test.mqttUrl, {
        clientId: 'cross-tb2',
        username: tb.credentials.accessToken,
        protocolVersion: 5,
      }),
    );
    await assert.rejects(
      tbDevice.client.publishAsync(`${thing.plugId}/data/x`, '{"data": 1}', { qos: 1 }),
      /Not authorized/,
    );
    const plugs = resources.add(await server.connectThing(thing, { protocolVersion: 5 }));
    await assert.rejects(
      plugs.client.publishAsync('v1/devices/me/telemetry', '{"a": 1}', { qos: 1 }),
      /Not authorized/,
    );
  });
});
