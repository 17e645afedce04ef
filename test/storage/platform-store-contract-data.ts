/** Platform store contract, part 2: the write batch, telemetry queries, attributes, events, RPC and retention. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataValue } from '../../src/platform/model.js';
import { UnknownDeviceError, type PlatformStore } from '../../src/storage/index.js';
import type { WithStore } from './platform-store-contract.js';
import { device, emptyBatch, event, rpc, seedOrganization, series, telemetry } from './platform-store-fixtures.js';

/** Every JSON type a device may send, with the number edge cases a database could bend. */
const everyValueType: [string, DataValue][] = [
  ['bool-true', true],
  ['bool-false', false],
  ['int', 42],
  ['int-negative', -7],
  ['int-large', Number.MAX_SAFE_INTEGER],
  ['float', 21.5],
  ['float-whole-beyond-safe', 2 ** 60],
  ['float-tiny', 5e-324],
  ['string', 'on'],
  ['string-numeric', '12'],
  ['string-empty', ''],
  ['object', { mode: 'eco', setpoints: [19.5, 21], nested: { ok: true, none: null } }],
  ['array', [1, 'two', false, null, { three: 3 }]],
  ['array-empty', []],
];

async function range(store: PlatformStore, deviceId: string, keys: string[], overrides = {}) {
  return store.telemetryRange({
    deviceId,
    keys,
    startTs: 0,
    endTs: Number.MAX_SAFE_INTEGER,
    limit: 1000,
    order: 'ASC',
    ...overrides,
  });
}

export function registerDeviceDataTests(withStore: WithStore): void {
  test('telemetry of every JSON type comes back with its type kept, from the range and the latest values', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await store.write(
        telemetry(
          'd1',
          everyValueType.map(([key, value]) => ({ key, ts: 1_000, value })),
        ),
      );
      const keys = everyValueType.map(([key]) => key);
      const stored = await range(store, 'd1', keys);
      for (const [key, value] of everyValueType) assert.deepEqual(stored.get(key), [{ ts: 1_000, value }], key);
      const latest = await store.latestTelemetry('d1');
      assert.deepEqual(
        latest,
        everyValueType.map(([key, value]) => ({ key, ts: 1_000, value })).sort((a, b) => (a.key < b.key ? -1 : 1)),
      );
      assert.deepEqual(await store.telemetryKeys('d1'), [...keys].sort());
      // JSON has one zero: -0 is stored as 0, as JSON.stringify writes it.
      await store.write(telemetry('d1', [{ key: 'zero', ts: 1_000, value: -0 }]));
      assert.ok(Object.is((await store.latestTelemetry('d1', ['zero']))[0]?.value, 0));
    }));

  test('an empty batch is accepted', () =>
    withStore(async (store) => {
      await store.write(emptyBatch());
    }));

  test('a point written again at the same ts replaces the stored value', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await store.write(telemetry('d1', [{ key: 't', ts: 5, value: 1 }]));
      await store.write(telemetry('d1', [{ key: 't', ts: 5, value: 'two' }]));
      // The same point twice in one batch: the later one wins.
      await store.write(
        telemetry('d1', [
          { key: 'u', ts: 5, value: 1 },
          { key: 'u', ts: 5, value: 2 },
        ]),
      );
      assert.deepEqual((await range(store, 'd1', ['t'])).get('t'), [{ ts: 5, value: 'two' }]);
      assert.deepEqual((await range(store, 'd1', ['u'])).get('u'), [{ ts: 5, value: 2 }]);
      assert.deepEqual(await store.latestTelemetry('d1', ['t', 'u']), [
        { key: 't', ts: 5, value: 'two' },
        { key: 'u', ts: 5, value: 2 },
      ]);
    }));

  test('the latest value is the newest ts, even when an older point arrives later', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      await store.write(telemetry('d1', [{ key: 't', ts: 200, value: 20 }]));
      await store.write(
        telemetry('d1', [
          { key: 't', ts: 100, value: 10 },
          { key: 'h', ts: 50, value: 'x' },
        ]),
      );
      await store.write(telemetry('d2', [{ key: 't', ts: 300, value: 30 }]));
      // Within one batch too: out of order points.
      await store.write(
        telemetry('d2', [
          { key: 't', ts: 400, value: 40 },
          { key: 't', ts: 350, value: 35 },
        ]),
      );
      assert.deepEqual(await store.latestTelemetry('d1'), [
        { key: 'h', ts: 50, value: 'x' },
        { key: 't', ts: 200, value: 20 },
      ]);
      assert.deepEqual(await store.latestTelemetry('d1', ['t', 'missing']), [{ key: 't', ts: 200, value: 20 }]);
      assert.deepEqual(await store.latestTelemetry('d2'), [{ key: 't', ts: 400, value: 40 }]);
      assert.deepEqual(await store.latestTelemetry('missing'), []);
      assert.deepEqual(await store.telemetryKeys('d1'), ['h', 't']);
    }));

  test('a telemetry range includes its start, excludes its end, and limits and orders each key separately', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      const tsList = [10, 20, 30, 40, 50];
      await store.write(
        emptyBatch({
          telemetry: [
            { deviceId: 'd1', points: [...series('a', tsList, (ts) => ts), ...series('b', tsList, (ts) => -ts)] },
            { deviceId: 'd2', points: series('a', tsList, () => 0) },
          ],
        }),
      );
      const asc = await range(store, 'd1', ['a', 'b', 'missing'], { startTs: 20, endTs: 50, limit: 2 });
      assert.deepEqual(
        asc,
        new Map([
          [
            'a',
            [
              { ts: 20, value: 20 },
              { ts: 30, value: 30 },
            ],
          ],
          [
            'b',
            [
              { ts: 20, value: -20 },
              { ts: 30, value: -30 },
            ],
          ],
        ]),
      );
      const desc = await range(store, 'd1', ['a'], { startTs: 20, endTs: 50, limit: 10, order: 'DESC' });
      assert.deepEqual(
        desc.get('a')?.map((p) => p.ts),
        [40, 30, 20],
      );
      assert.deepEqual(await range(store, 'd1', ['a'], { startTs: 51 }), new Map());
      assert.deepEqual(await range(store, 'missing', ['a']), new Map());
    }));

  test('aggregates are computed per bucket from startTs, with booleans as 0/1 and text only counted', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      // Buckets of 10 ms from 5: [5,15) [15,25) [25,35) [35,45) [45,55)
      await store.write(
        telemetry('d1', [
          { key: 'n', ts: 4, value: 1_000 }, // before the window
          { key: 'n', ts: 5, value: 1 },
          { key: 'n', ts: 9, value: 2.5 },
          { key: 'n', ts: 14, value: true },
          { key: 'n', ts: 15, value: 'text' },
          { key: 'n', ts: 16, value: 4 },
          { key: 'n', ts: 27, value: { not: 'a number' } },
          { key: 'n', ts: 45, value: false },
          { key: 'n', ts: 55, value: 1_000 }, // at the end: excluded
          { key: 's', ts: 6, value: 'only text' },
        ]),
      );
      const aggregate = async (agg: 'AVG' | 'MIN' | 'MAX' | 'SUM' | 'COUNT') =>
        store.telemetryAggregate({ deviceId: 'd1', keys: ['n', 's'], startTs: 5, endTs: 55, intervalMs: 10, agg });
      assert.deepEqual(
        await aggregate('COUNT'),
        new Map([
          [
            'n',
            [
              { ts: 5, value: 3 },
              { ts: 15, value: 2 },
              { ts: 25, value: 1 },
              { ts: 45, value: 1 },
            ],
          ],
          ['s', [{ ts: 5, value: 1 }]],
        ]),
      );
      const numeric = (values: [number, number, number]) =>
        new Map([
          [
            'n',
            [
              { ts: 5, value: values[0] },
              { ts: 15, value: values[1] },
              { ts: 45, value: values[2] },
            ],
          ],
        ]);
      assert.deepEqual(await aggregate('SUM'), numeric([4.5, 4, 0]));
      assert.deepEqual(await aggregate('AVG'), numeric([1.5, 4, 0]));
      assert.deepEqual(await aggregate('MIN'), numeric([1, 4, 0]));
      assert.deepEqual(await aggregate('MAX'), numeric([2.5, 4, 0]));
      await assert.rejects(
        store.telemetryAggregate({ deviceId: 'd1', keys: ['n'], startTs: 0, endTs: 9, intervalMs: 0, agg: 'SUM' }),
        RangeError,
      );
    }));

  test('attributes are upserted per scope, read by key and deleted', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await store.write(
        emptyBatch({
          attributes: [
            { deviceId: 'd1', scope: 'client', key: 'fw', value: '1.0', ts: 1 },
            { deviceId: 'd1', scope: 'shared', key: 'fw', value: '2.0', ts: 1 },
            { deviceId: 'd1', scope: 'client', key: 'cfg', value: { a: [1, 2] }, ts: 1 },
            { deviceId: 'd1', scope: 'server', key: 'active', value: true, ts: 1 },
          ],
        }),
      );
      await store.write(
        emptyBatch({ attributes: [{ deviceId: 'd1', scope: 'client', key: 'fw', value: 1.5, ts: 2 }] }),
      );
      assert.deepEqual(await store.getAttributes('d1', 'client'), [
        { scope: 'client', key: 'cfg', value: { a: [1, 2] }, lastUpdateTs: 1 },
        { scope: 'client', key: 'fw', value: 1.5, lastUpdateTs: 2 },
      ]);
      assert.deepEqual(await store.getAttributes('d1', 'shared', ['fw', 'missing']), [
        { scope: 'shared', key: 'fw', value: '2.0', lastUpdateTs: 1 },
      ]);
      await store.write(
        emptyBatch({ attributeDeletes: [{ deviceId: 'd1', scope: 'client', keys: ['fw', 'missing'] }] }),
      );
      assert.deepEqual(
        (await store.getAttributes('d1', 'client')).map((a) => a.key),
        ['cfg'],
      );
      assert.equal((await store.getAttributes('d1', 'shared')).length, 1);
      assert.deepEqual(await store.getAttributes('d1', 'server'), [
        { scope: 'server', key: 'active', value: true, lastUpdateTs: 1 },
      ]);
    }));

  test('events are queried by device, stream and time window, with order, limit and offset', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2', 'd3']);
      const events = [
        event('e1', 'org', 'd1', { at: 10, stream: 'raw', atText: '1970-01-01T00:00:00.010123Z' }),
        event('e2', 'org', 'd2', { at: 20, stream: 'alarms', data: [1, { x: null }] }),
        event('e3', 'org', 'd1', { at: 30, stream: 'raw', data: null, expiresAt: 99 }),
        event('e4', 'org', 'd1', { at: 40, stream: 'raw', data: 'text' }),
        event('e5', 'org', 'd3', { at: 25 }),
      ];
      await store.write(emptyBatch({ events }));
      const ids = async (query: Partial<Parameters<PlatformStore['queryEvents']>[0]>) =>
        (await store.queryEvents({ deviceIds: ['d1', 'd2'], limit: 100, order: 'ASC', ...query })).map((e) => e.id);
      assert.deepEqual(
        await store.queryEvents({ deviceIds: ['d1', 'd2'], limit: 2, order: 'ASC' }),
        events.slice(0, 2),
      );
      assert.deepEqual(await ids({}), ['e1', 'e2', 'e3', 'e4']);
      assert.deepEqual(await ids({ order: 'DESC' }), ['e4', 'e3', 'e2', 'e1']);
      assert.deepEqual(await ids({ since: 20, until: 40 }), ['e2', 'e3']);
      assert.deepEqual(await ids({ stream: 'raw' }), ['e1', 'e3', 'e4']);
      assert.deepEqual(await ids({ limit: 2, offset: 1 }), ['e2', 'e3']);
      assert.deepEqual(await ids({ limit: 2, offset: 1, order: 'DESC' }), ['e3', 'e2']);
      assert.deepEqual(await ids({ deviceIds: [] }), []);
    }));

  test('events are queried across an organization, never beyond it, and a query naming no scope is refused', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      await seedOrganization(store, 'other', ['o1']);
      await store.write(
        emptyBatch({
          events: [
            event('e1', 'org', 'd1', { at: 10 }),
            event('x1', 'other', 'o1', { at: 15 }),
            event('e2', 'org', 'd2', { at: 20, stream: 'alarms' }),
            event('e3', 'org', 'd1', { at: 30 }),
          ],
        }),
      );
      const ids = async (query: Partial<Parameters<PlatformStore['queryEvents']>[0]>) =>
        (await store.queryEvents({ orgId: 'org', limit: 100, order: 'ASC', ...query })).map((e) => e.id);
      assert.deepEqual(await ids({}), ['e1', 'e2', 'e3']);
      assert.deepEqual(await ids({ order: 'DESC', limit: 2 }), ['e3', 'e2']);
      assert.deepEqual(await ids({ stream: 'alarms' }), ['e2']);
      assert.deepEqual(await ids({ since: 15, until: 30 }), ['e2']);
      assert.deepEqual(await ids({ orgId: 'other' }), ['x1']);
      // Devices and organization together: another organization's device names nothing.
      assert.deepEqual(await ids({ deviceIds: ['d2', 'o1'] }), ['e2']);
      await assert.rejects(store.queryEvents({ limit: 1, order: 'ASC' }), RangeError);
    }));

  test('events are deleted by id; unknown ids count nothing, and an id stored again is accepted after', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      await store.write(
        emptyBatch({ events: [event('e1', 'org', 'd1', { at: 1 }), event('e2', 'org', 'd2', { at: 2 })] }),
      );
      assert.equal(await store.deleteEvents(['e1', 'missing']), 1);
      assert.equal(await store.deleteEvents([]), 0);
      const left = await store.queryEvents({ deviceIds: ['d1', 'd2'], limit: 10, order: 'ASC' });
      assert.deepEqual(
        left.map((e) => e.id),
        ['e2'],
      );
      await store.write(emptyBatch({ events: [event('e1', 'org', 'd1', { at: 3 })] }));
      await assert.rejects(store.deleteEvents(Array.from({ length: 1_001 }, (_, i) => `x${String(i)}`)), RangeError);
    }));

  test('a batch naming an unknown device stores nothing and names the device', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      const batch = emptyBatch({
        telemetry: [
          { deviceId: 'd1', points: [{ key: 't', ts: 1, value: 1 }] },
          { deviceId: 'ghost', points: [{ key: 't', ts: 1, value: 1 }] },
        ],
        attributes: [{ deviceId: 'd1', scope: 'client', key: 'a', value: 1, ts: 1 }],
        events: [event('e1', 'org', 'd1'), event('e2', 'org', 'phantom')],
      });
      await assert.rejects(store.write(batch), (error: unknown) => {
        assert.ok(error instanceof UnknownDeviceError);
        assert.equal(error.code, 'UNKNOWN_DEVICE');
        assert.deepEqual(error.deviceIds, ['ghost', 'phantom']);
        return true;
      });
      assert.deepEqual(await store.latestTelemetry('d1'), []);
      assert.deepEqual(await store.getAttributes('d1', 'client'), []);
      assert.deepEqual(await store.queryEvents({ deviceIds: ['d1'], limit: 10, order: 'ASC' }), []);
    }));

  test('RPCs are stored, listed by status oldest first, and updated', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      const first = rpc('r1', 'org', 'd1', { requestId: 1, createdAt: 10, additionalInfo: { by: 'ui' } });
      const second = rpc('r2', 'org', 'd1', { requestId: 2, createdAt: 20, status: 'SENT', params: null });
      const third = rpc('r3', 'org', 'd1', { requestId: 3, createdAt: 5, status: 'SUCCESSFUL', response: null });
      const other = rpc('r4', 'org', 'd2', { requestId: 1 });
      for (const r of [first, second, third, other]) await store.putRpc(r);
      assert.deepEqual(await store.getRpc('r1'), first);
      assert.deepEqual(await store.getRpc('r3'), third);
      assert.equal(await store.getRpc('missing'), undefined);
      assert.deepEqual(await store.listRpcs('d1', ['QUEUED', 'SENT']), [first, second]);
      assert.deepEqual(await store.listRpcs('d1', ['SUCCESSFUL', 'QUEUED', 'SENT']), [third, first, second]);
      assert.deepEqual(await store.listRpcs('d1', []), []);

      assert.equal(await store.updateRpc('r2', { status: 'SUCCESSFUL', response: { ok: 1 }, updatedAt: 30 }), true);
      assert.deepEqual(await store.getRpc('r2'), {
        ...second,
        status: 'SUCCESSFUL',
        response: { ok: 1 },
        updatedAt: 30,
      });
      assert.equal(await store.updateRpc('r1', { retries: 1, updatedAt: 31 }), true);
      assert.deepEqual(await store.getRpc('r1'), { ...first, retries: 1, updatedAt: 31 });
      assert.equal(await store.updateRpc('missing', { updatedAt: 1 }), false);
      // putRpc replaces.
      await store.putRpc({ ...first, status: 'EXPIRED' });
      assert.equal((await store.getRpc('r1'))?.status, 'EXPIRED');
    }));

  test('deleting a device deletes its credentials, telemetry, attributes, RPCs and events, not another device’s', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      for (const id of ['d1', 'd2']) {
        await store.write(
          emptyBatch({
            telemetry: [{ deviceId: id, points: [{ key: 't', ts: 1, value: 1 }] }],
            attributes: [{ deviceId: id, scope: 'shared', key: 'a', value: 1, ts: 1 }],
            events: [event(`e-${id}`, 'org', id)],
          }),
        );
        await store.putRpc(rpc(`r-${id}`, 'org', id));
      }
      assert.equal(await store.deleteDevice('d1'), true);
      assert.equal(await store.deleteDevice('d1'), false);
      assert.equal(await store.getDevice('d1'), undefined);
      assert.equal(await store.getCredentials('d1'), undefined);
      assert.equal(await store.findByAccessToken('token-d1'), undefined);
      assert.equal(await store.getRpc('r-d1'), undefined);
      // A new device with the same id starts empty.
      await store.createDevice(device('d1', 'org'));
      assert.deepEqual(await store.latestTelemetry('d1'), []);
      assert.deepEqual(await store.telemetryKeys('d1'), []);
      assert.deepEqual(await range(store, 'd1', ['t']), new Map());
      assert.deepEqual(await store.getAttributes('d1', 'shared'), []);
      assert.deepEqual(await store.queryEvents({ deviceIds: ['d1'], limit: 10, order: 'ASC' }), []);
      assert.deepEqual(await store.listRpcs('d1', ['QUEUED']), []);

      assert.equal((await store.latestTelemetry('d2')).length, 1);
      assert.equal((await range(store, 'd2', ['t'])).get('t')?.length, 1);
      assert.equal((await store.getAttributes('d2', 'shared')).length, 1);
      assert.equal((await store.queryEvents({ deviceIds: ['d2'], limit: 10, order: 'ASC' })).length, 1);
      assert.equal((await store.getRpc('r-d2'))?.deviceId, 'd2');
    }));

  test('retention deletes old telemetry and events in bounded steps, keeping newer data, latest values and other organizations', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['a1', 'a2']);
      await seedOrganization(store, 'b', ['b1']);
      const tsList = [1, 2, 3, 100, 101];
      for (const id of ['a1', 'a2', 'b1']) {
        await store.write(
          emptyBatch({
            telemetry: [
              { deviceId: id, points: [...series('x', tsList, (ts) => ts), ...series('y', [2, 200], (ts) => ts)] },
            ],
            events: [event(`old-${id}`, id[0]!, id, { at: 1 }), event(`new-${id}`, id[0]!, id, { at: 150 })],
          }),
        );
      }
      // Old: a1 and a2 each have x@1,2,3 and y@2 = 4 points, plus one event each: 10 rows before ts 100.
      const deleted: number[] = [];
      for (;;) {
        const count = await store.deleteExpired('a', 100, 3, 1_000);
        deleted.push(count);
        if (count === 0) break;
      }
      assert.deepEqual(deleted, [3, 3, 3, 1, 0]);
      for (const id of ['a1', 'a2']) {
        const kept = await range(store, id, ['x', 'y']);
        assert.deepEqual(
          kept.get('x')?.map((p) => p.ts),
          [100, 101],
        );
        assert.deepEqual(
          kept.get('y')?.map((p) => p.ts),
          [200],
        );
        assert.deepEqual(
          (await store.queryEvents({ deviceIds: [id], limit: 10, order: 'ASC' })).map((e) => e.id),
          [`new-${id}`],
        );
      }
      assert.equal((await range(store, 'b1', ['x'])).get('x')?.length, 5);
      assert.equal((await store.queryEvents({ deviceIds: ['b1'], limit: 10, order: 'ASC' })).length, 2);
      assert.equal((await store.latestTelemetry('a1')).length, 2);
    }));

  test('an event past its own expiresAt is deleted even when retention keeps the rest', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['d1']);
      await store.write(
        emptyBatch({
          events: [
            event('expired', 'a', 'd1', { at: 500, expiresAt: 900 }),
            event('fresh', 'a', 'd1', { at: 500, expiresAt: 2_000 }),
            event('forever', 'a', 'd1', { at: 500, expiresAt: null }),
          ],
        }),
      );
      assert.equal(await store.deleteExpired('a', 0, 100, 1_000), 1);
      assert.deepEqual(
        (await store.queryEvents({ deviceIds: ['d1'], limit: 10, order: 'ASC' })).map((e) => e.id),
        ['fresh', 'forever'],
      );
      assert.equal(await store.deleteExpired('a', 0, 100, 1_000), 0);
    }));

  test('an event is filed under its device’s organization and moves with the device', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'a', ['d1']);
      await seedOrganization(store, 'b', []);
      await store.write(emptyBatch({ events: [event('e1', 'a', 'd1', { at: 1 })] }));
      await store.updateDevice('d1', { orgId: 'b' });
      const [moved] = await store.queryEvents({ deviceIds: ['d1'], limit: 1, order: 'ASC' });
      assert.equal(moved?.orgId, 'b');
      assert.equal(await store.deleteExpired('a', 100, 10, 0), 0);
      assert.equal(await store.deleteExpired('b', 100, 10, 0), 1);
    }));
}
