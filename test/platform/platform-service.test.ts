/**
 * The platform service over a real SQLite platform store: device data is committed before its sender hears back and
 * before the bus sees it, writes beyond the pending bound are refused, shared attributes reach connected devices,
 * and server-side RPC walks ThingsBoard's states (device-apis.md §3.5). The device side is a `DeviceLink`: the
 * contract every dialect implements, here driven directly by the test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../src/observability/index.js';
import { OverloadedError } from '../../src/platform/data-writer.js';
import type { AttributeUpdate, DeviceLink } from '../../src/platform/device-links.js';
import type { Device, DeviceEvent, Rpc, StateChange } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import type { RpcLimits } from '../../src/platform/rpc.js';
import { RetentionSweeper } from '../../src/platform/retention.js';
import { DuplicateError, EventModificationError, SqlitePlatformStore } from '../../src/storage/platform/index.js';

/** Short enough for tests; the production defaults are ThingsBoard's (seconds). */
const TEST_RPC_LIMITS: RpcLimits = { defaultTimeoutMs: 300, minTimeoutMs: 50, deliveryTimeoutMs: 100, maxRetries: 5 };

/** A device side that records what it was sent and lets the test decide when it "receives" an RPC. */
class RecordingLink implements DeviceLink {
  readonly rpcs: { rpc: Rpc; onDelivered: () => void }[] = [];
  readonly updates: AttributeUpdate[] = [];
  acceptsRpc = true;
  sendRpc(rpc: Rpc, onDelivered: () => void): boolean {
    if (!this.acceptsRpc) return false;
    this.rpcs.push({ rpc: { ...rpc }, onDelivered });
    return true;
  }
  sendAttributeUpdate(update: AttributeUpdate): void {
    this.updates.push(update);
  }
}

/** Polls `condition` (sync or async) until it holds; fails naming `what` after `timeoutMs`. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let dir: string;
let platform: Platform;
let device: Device;

async function open(maxPendingWrites = 200_000): Promise<void> {
  const store = await SqlitePlatformStore.open(join(dir, 'platform.db'));
  platform = new Platform({ store, logger: createLogger('silent'), maxPendingWrites, rpc: TEST_RPC_LIMITS });
  const org = await platform.entities.createOrganization({ name: 'Acme' });
  device = (await platform.entities.createDevice(org.id, { name: 'Thermostat A' })).device;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-platform-'));
  await open();
});
afterEach(async () => {
  await platform.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('device data', () => {
  test('telemetry is readable from the store when its sender is told it is committed', async () => {
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      platform.postTelemetry(device, [{ key: 'temperature', ts: 1_000, value: 21.5 }], (error) => {
        if (error !== undefined) reject(error);
        else
          void platform.store.latestTelemetry(device.id).then((points) => {
            seen.push(...points.map((p) => p.value as number));
            resolve();
          });
      });
    });
    assert.deepEqual(seen, [21.5]);
  });

  test('the bus sees each change once, after the commit, in commit order', async () => {
    const changes: StateChange[] = [];
    platform.bus.subscribe((change) => changes.push(change));
    const first = platform.committed((done) => {
      platform.postTelemetry(
        device,
        [
          { key: 'a', ts: 1, value: 1 },
          { key: 'b', ts: 1, value: true },
        ],
        done,
      );
    });
    assert.equal(changes.length, 0, 'nothing is announced before it is stored');
    await first;
    await platform.committed((done) => {
      platform.postAttributes(device, 'client', { firmware: '1.2.0' }, done);
    });
    assert.deepEqual(
      changes.map((c) => (c.kind === 'telemetry' ? `t:${c.key}` : c.kind === 'attribute' ? `a:${c.key}` : c.kind)),
      ['t:a', 't:b', 'a:firmware'],
    );
  });

  test('writes beyond the pending bound are refused with OverloadedError, and nothing of them is stored', async () => {
    await platform.close();
    await open(1_000);
    const points = Array.from({ length: 800 }, (_, i) => ({ key: 'k', ts: i, value: i }));
    const accepted = platform.committed((done) => {
      platform.postTelemetry(device, points, done);
    });
    const refused = platform.committed((done) => {
      platform.postTelemetry(device, points, done);
    });
    await assert.rejects(refused, OverloadedError);
    await accepted;
    const stored = await platform.store.telemetryRange({
      deviceId: device.id,
      keys: ['k'],
      startTs: 0,
      endTs: 10_000,
      limit: 10_000,
      order: 'ASC',
    });
    assert.equal(stored.get('k')?.length, 800);
  });

  test('a group commit with a taken event id refuses only that post; other devices’ data of the commit is stored', async () => {
    const org = device.orgId;
    const other = (await platform.entities.createDevice(org, { name: 'Thermostat B' })).device;
    const event = { stream: 'raw', at: 5, atText: null, data: 1, expiresAt: null };
    await platform.committed((done) => {
      platform.postEvents(device, [{ ...event, id: 'taken' }], done);
    });
    const changes: StateChange[] = [];
    platform.bus.subscribe((change) => changes.push(change));
    // Posted in one turn: one batch, one commit.
    const outcomes = await Promise.allSettled([
      platform.committed((done) => {
        platform.postTelemetry(other, [{ key: 't', ts: 7, value: 7 }], done);
      }),
      platform.committed((done) => {
        platform.postEvents(other, [{ ...event, id: 'taken', data: 2 }], done);
      }),
      platform.committed((done) => {
        platform.postEvents(other, [{ ...event, id: 'fresh', data: 3 }], done);
      }),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const refusal = outcomes[1]?.status === 'rejected' ? (outcomes[1].reason as DuplicateError) : undefined;
    assert.ok(refusal instanceof DuplicateError);
    assert.equal(refusal.what, 'event id');
    assert.equal(platform.writeStats.commits, 2);
    assert.deepEqual(await platform.store.latestTelemetry(other.id), [{ key: 't', ts: 7, value: 7 }]);
    const stored = await platform.store.queryEvents({ deviceIds: [device.id, other.id], limit: 10, order: 'ASC' });
    assert.deepEqual(
      stored.map((e) => [e.id, e.deviceId, e.data]),
      [
        ['taken', device.id, 1],
        ['fresh', other.id, 3],
      ],
    );
    assert.deepEqual(
      changes.map((c) => (c.kind === 'event' ? `e:${c.event.id}` : c.kind === 'telemetry' ? `t:${c.key}` : c.kind)),
      ['t:t', 'e:fresh'],
    );
  });

  test('a device deleted while its data waits for the group commit refuses only its own posts; other devices’ data is stored, in order', async () => {
    const other = (await platform.entities.createDevice(device.orgId, { name: 'Thermostat C' })).device;
    const event = { stream: 'raw', at: 5, atText: null, data: 1, expiresAt: null };
    const changes: StateChange[] = [];
    platform.bus.subscribe((change) => changes.push(change));
    // Posted in one turn (one batch); the SQLite store deletes synchronously, so the device is gone before the write.
    const posts = [
      platform.committed((done) => {
        platform.postTelemetry(other, [{ key: 't', ts: 1, value: 1 }], done);
      }),
      platform.committed((done) => {
        platform.postTelemetry(device, [{ key: 't', ts: 2, value: 2 }], done);
      }),
      platform.committed((done) => {
        platform.postEvents(other, [{ ...event, id: 'kept' }], done);
      }),
      platform.committed((done) => {
        platform.postTelemetry(other, [{ key: 't', ts: 3, value: 3 }], done);
      }),
    ];
    const deleted = platform.store.deleteDevice(device.id);
    const outcomes = await Promise.allSettled(posts);
    assert.equal(await deleted, true);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    const refusal = outcomes[1]?.status === 'rejected' ? (outcomes[1].reason as Error) : undefined;
    assert.equal(refusal?.name, 'UnknownDeviceError');
    const stored = await platform.store.telemetryRange({
      deviceId: other.id,
      keys: ['t'],
      startTs: 0,
      endTs: 10,
      limit: 10,
      order: 'ASC',
    });
    assert.deepEqual(
      stored.get('t')?.map((p) => p.value),
      [1, 3],
    );
    assert.deepEqual(
      (await platform.store.queryEvents({ deviceIds: [other.id], limit: 10, order: 'ASC' })).map((e) => e.id),
      ['kept'],
    );
    // The bus hears of what was stored, in the order it was posted; nothing of the deleted device.
    assert.deepEqual(
      changes.map((c) => `${c.deviceId === other.id ? 'other' : 'deleted'}:${c.kind}`),
      ['other:telemetry', 'other:event', 'other:telemetry'],
    );
  });

  test('a modification of the device’s own event is stored, announced with the same id and answered with it; another device’s is refused', async () => {
    const other = (await platform.entities.createDevice(device.orgId, { name: 'Thermostat B' })).device;
    await platform.committed((done) => {
      platform.postEvents(device, [{ id: 'e1', stream: 'temp', at: 5, atText: null, data: 20, expiresAt: null }], done);
    });
    const changes: StateChange[] = [];
    platform.bus.subscribe((change) => changes.push(change));
    const modify = (target: Device) =>
      new Promise<DeviceEvent>((resolve, reject) => {
        platform.modifyEvent(
          target,
          { id: 'e1', stream: 'temp', data: 21, at: undefined, expiresAt: undefined, telemetryKey: 'temp' },
          (error, event) => {
            if (error === undefined && event !== undefined) resolve(event);
            else reject(error ?? new Error('no event'));
          },
        );
      });
    const [foreign, own] = await Promise.allSettled([modify(other), modify(device)]);
    assert.equal(foreign?.status, 'rejected');
    const refusal = foreign.status === 'rejected' ? (foreign.reason as EventModificationError) : undefined;
    assert.ok(refusal instanceof EventModificationError);
    assert.equal(refusal.code, 'EVENT_OF_ANOTHER_DEVICE');
    assert.equal(own?.status, 'fulfilled');
    const modified = {
      id: 'e1',
      orgId: device.orgId,
      deviceId: device.id,
      stream: 'temp',
      at: 5,
      atText: null,
      data: 21,
      expiresAt: null,
    };
    assert.deepEqual(own.status === 'fulfilled' ? own.value : undefined, modified);
    assert.deepEqual(changes, [
      { kind: 'event', orgId: device.orgId, deviceId: device.id, event: modified },
      { kind: 'telemetry', orgId: device.orgId, deviceId: device.id, key: 'temp', ts: 5, value: 21 },
    ]);
    assert.deepEqual(await platform.store.latestTelemetry(device.id), [{ key: 'temp', ts: 5, value: 21 }]);
    assert.deepEqual(await platform.store.latestTelemetry(other.id), []);
  });

  test('shared attributes set and deleted reach the device link after the commit; client ones do not', async () => {
    const link = new RecordingLink();
    platform.links.attach(device.id, link);
    await platform.committed((done) => {
      platform.postAttributes(device, 'shared', { targetTemperature: 22 }, done);
    });
    await platform.committed((done) => {
      platform.postAttributes(device, 'client', { firmware: '1.0' }, done);
    });
    await platform.committed((done) => {
      platform.deleteAttributes(device, 'shared', ['targetTemperature'], done);
    });
    assert.deepEqual(link.updates, [
      { values: { targetTemperature: 22 }, deleted: [] },
      { values: {}, deleted: ['targetTemperature'] },
    ]);
  });
});

describe('server-side RPC', () => {
  const request = { method: 'setGpio', params: { pin: 4, value: 1 } };

  test('two-way to a device with no link answers offline at once', async () => {
    const outcome = await platform.rpc.call(device, { ...request, isOneway: false, isPersistent: false });
    assert.equal(outcome.kind, 'offline');
  });

  test('two-way: the device reply is the result', async () => {
    const link = new RecordingLink();
    platform.links.attach(device.id, link);
    const pending = platform.rpc.call(device, { ...request, isOneway: false, isPersistent: false, timeoutMs: 5_000 });
    await eventually(() => link.rpcs.length === 1, 'the RPC at the device');
    const sent = link.rpcs[0]!;
    assert.deepEqual([sent.rpc.method, sent.rpc.params], [request.method, request.params]);
    sent.onDelivered();
    assert.equal(platform.rpc.reply(device.id, sent.rpc.requestId, { ok: true }), true);
    const outcome = await pending;
    assert.equal(outcome.kind, 'done');
    assert.deepEqual(outcome.rpc.response, { ok: true });
    assert.equal(platform.rpc.reply(device.id, sent.rpc.requestId, { ok: true }), false, 'a second reply is refused');
  });

  test('two-way with no reply times out', async () => {
    platform.links.attach(device.id, new RecordingLink());
    const outcome = await platform.rpc.call(device, {
      ...request,
      isOneway: false,
      isPersistent: false,
      timeoutMs: 60,
    });
    assert.equal(outcome.kind, 'timeout');
  });

  test('persistent: QUEUED while offline, then SENT, DELIVERED and SUCCESSFUL with the reply, all stored', async () => {
    const outcome = await platform.rpc.call(device, {
      ...request,
      isOneway: false,
      isPersistent: true,
      timeoutMs: 10_000,
    });
    assert.equal(outcome.kind, 'queued');
    const id = outcome.rpc.id;
    assert.equal((await platform.rpc.get(id))?.status, 'QUEUED');
    const link = new RecordingLink();
    platform.links.attach(device.id, link);
    await eventually(() => link.rpcs.length === 1, 'the RPC at the device');
    await eventually(async () => (await platform.rpc.get(id))?.status === 'SENT', 'status SENT');
    link.rpcs[0]!.onDelivered();
    await eventually(async () => (await platform.rpc.get(id))?.status === 'DELIVERED', 'status DELIVERED');
    platform.rpc.reply(device.id, link.rpcs[0]!.rpc.requestId, { done: 1 });
    await eventually(async () => (await platform.rpc.get(id))?.status === 'SUCCESSFUL', 'status SUCCESSFUL');
    assert.deepEqual((await platform.rpc.get(id))?.response, { done: 1 });
  });

  test('persistent one-way is SUCCESSFUL once delivered', async () => {
    const link = new RecordingLink();
    platform.links.attach(device.id, link);
    const outcome = await platform.rpc.call(device, { ...request, isOneway: true, isPersistent: true });
    await eventually(() => link.rpcs.length === 1, 'the RPC at the device');
    link.rpcs[0]!.onDelivered();
    await eventually(
      async () => (await platform.rpc.get(outcome.rpc.id))?.status === 'SUCCESSFUL',
      'status SUCCESSFUL',
    );
  });

  test('persistent never delivered to an absent device is EXPIRED at its expiration time', async () => {
    const outcome = await platform.rpc.call(device, { ...request, isOneway: false, isPersistent: true, timeoutMs: 80 });
    await eventually(async () => (await platform.rpc.get(outcome.rpc.id))?.status === 'EXPIRED', 'status EXPIRED');
  });

  test('an undelivered persistent RPC is retried, then TIMEOUT once its retries are used up', async () => {
    const link = new RecordingLink();
    platform.links.attach(device.id, link);
    const outcome = await platform.rpc.call(device, {
      ...request,
      isOneway: false,
      isPersistent: true,
      timeoutMs: 10_000,
      retries: 2,
    });
    // Never acknowledged: each delivery timeout (100 ms here) re-sends while retries remain.
    await eventually(
      async () => (await platform.rpc.get(outcome.rpc.id))?.status === 'TIMEOUT',
      'status TIMEOUT',
      5_000,
    );
    assert.equal(link.rpcs.length, 3, 'the first send and two retries');
    assert.equal((await platform.rpc.get(outcome.rpc.id))?.retries, 2);
  });
});

describe('retention', () => {
  test('telemetry past an organization’s retention is deleted; newer data and other organizations are kept', async () => {
    const now = Date.now();
    const old = now - 2 * 86_400_000;
    const shortLived = await platform.entities.createOrganization({ name: 'Short', retentionDays: 1 });
    const expiring = (await platform.entities.createDevice(shortLived.id, { name: 'Sensor S' })).device;
    for (const target of [expiring, device]) {
      await platform.committed((done) => {
        platform.postTelemetry(
          target,
          [
            { key: 'rh', ts: old, value: 40 },
            { key: 'rh', ts: now, value: 41 },
          ],
          done,
        );
      });
    }
    const sweeper = new RetentionSweeper(platform.store, createLogger('silent'), 60_000);
    assert.equal(await sweeper.sweep(now), 1);
    const range = (deviceId: string) =>
      platform.store.telemetryRange({ deviceId, keys: ['rh'], startTs: 0, endTs: now + 1, limit: 10, order: 'ASC' });
    assert.deepEqual(
      (await range(expiring.id)).get('rh')?.map((p) => p.value),
      [41],
    );
    assert.deepEqual(
      (await range(device.id)).get('rh')?.map((p) => p.value),
      [40, 41],
      'an organization without retention keeps everything',
    );
  });
});
