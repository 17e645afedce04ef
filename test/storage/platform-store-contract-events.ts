/**
 * Platform store contract, part 4: events judged one by one inside the write batch. A taken event id is refused
 * without failing the batch, and an `EventModification` replaces a stored event only for the same device.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  UnknownDeviceError,
  type EventModification,
  type PlatformStore,
  type WriteOutcome,
} from '../../src/storage/index.js';
import type { WithStore } from './platform-store-contract.js';
import { emptyBatch, event, seedOrganization } from './platform-store-fixtures.js';

function modification(id: string, deviceId: string, overrides: Partial<EventModification> = {}): EventModification {
  return {
    id,
    deviceId,
    stream: 'raw',
    data: { modified: id },
    at: undefined,
    expiresAt: undefined,
    telemetryKey: undefined,
    ...overrides,
  };
}

async function eventsOf(store: PlatformStore, deviceIds: string[]) {
  return store.queryEvents({ deviceIds, limit: 100, order: 'ASC' });
}

async function pointsOf(store: PlatformStore, deviceId: string, key: string) {
  const range = await store.telemetryRange({
    deviceId,
    keys: [key],
    startTs: 0,
    endTs: Number.MAX_SAFE_INTEGER,
    limit: 100,
    order: 'ASC',
  });
  return range.get(key) ?? [];
}

const nothingLeftOut: WriteOutcome = { duplicateEvents: [], modifications: [] };

export function registerEventTests(withStore: WithStore): void {
  test('a batch with an already stored event id refuses that event only; other devices’ data of the batch is stored', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      assert.deepEqual(
        await store.write(emptyBatch({ events: [event('e1', 'org', 'd1', { at: 1 })] })),
        nothingLeftOut,
      );
      const outcome = await store.write(
        emptyBatch({
          telemetry: [{ deviceId: 'd2', points: [{ key: 't', ts: 5, value: 5 }] }],
          attributes: [{ deviceId: 'd2', scope: 'client', key: 'a', value: 1, ts: 5 }],
          events: [
            event('e2', 'org', 'd2', { at: 2 }),
            event('e1', 'org', 'd2', { at: 3, data: 'intruder' }),
            event('e3', 'org', 'd1', { at: 4 }),
          ],
        }),
      );
      assert.deepEqual(outcome, { duplicateEvents: [1], modifications: [] });
      assert.deepEqual(await store.latestTelemetry('d2'), [{ key: 't', ts: 5, value: 5 }]);
      assert.deepEqual(await store.getAttributes('d2', 'client'), [
        { scope: 'client', key: 'a', value: 1, lastUpdateTs: 5 },
      ]);
      assert.deepEqual(await eventsOf(store, ['d1', 'd2']), [
        event('e1', 'org', 'd1', { at: 1 }),
        event('e2', 'org', 'd2', { at: 2 }),
        event('e3', 'org', 'd1', { at: 4 }),
      ]);
    }));

  test('an event id repeated within one batch stores the first and refuses the later ones', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      const outcome = await store.write(
        emptyBatch({
          events: [
            event('e1', 'org', 'd1', { at: 1 }),
            event('e1', 'org', 'd2', { at: 2 }),
            event('e2', 'org', 'd2', { at: 3 }),
            event('e1', 'org', 'd1', { at: 4 }),
          ],
        }),
      );
      assert.deepEqual(outcome.duplicateEvents, [1, 3]);
      assert.deepEqual(
        (await eventsOf(store, ['d1', 'd2'])).map((e) => [e.id, e.deviceId, e.at]),
        [
          ['e1', 'd1', 1],
          ['e2', 'd2', 3],
        ],
      );
    }));

  test('a modification replaces stream, data, time and expiry of the device’s event, which is read back once', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await store.write(
        emptyBatch({
          events: [event('e1', 'org', 'd1', { at: 10 }), event('e2', 'org', 'd1', { at: 20 })],
        }),
      );
      const outcome = await store.write(
        emptyBatch({
          eventModifications: [
            modification('e1', 'd1', {
              stream: 'fixed',
              data: [1, { x: null }],
              at: { ms: 30, text: '1970-01-01T00:00:00.030500Z' },
              expiresAt: 99,
            }),
          ],
        }),
      );
      const expected = event('e1', 'org', 'd1', {
        stream: 'fixed',
        data: [1, { x: null }],
        at: 30,
        atText: '1970-01-01T00:00:00.030500Z',
        expiresAt: 99,
      });
      assert.deepEqual(outcome, { duplicateEvents: [], modifications: [{ applied: expected }] });
      assert.deepEqual(await eventsOf(store, ['d1']), [event('e2', 'org', 'd1', { at: 20 }), expected]);
    }));

  test('a modification without a time or an expiry keeps the stored ones; an expiry of null clears it', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      const stored = event('e1', 'org', 'd1', { at: 10, atText: '1970-01-01T00:00:00.010Z', expiresAt: 50 });
      await store.write(emptyBatch({ events: [stored] }));
      const kept = await store.write(emptyBatch({ eventModifications: [modification('e1', 'd1', { data: 2 })] }));
      assert.deepEqual(kept.modifications, [{ applied: { ...stored, data: 2 } }]);
      const cleared = await store.write(
        emptyBatch({ eventModifications: [modification('e1', 'd1', { data: 3, expiresAt: null })] }),
      );
      assert.deepEqual(cleared.modifications, [{ applied: { ...stored, data: 3, expiresAt: null } }]);
      assert.deepEqual(await eventsOf(store, ['d1']), [{ ...stored, data: 3, expiresAt: null }]);
    }));

  test('a modification of another device’s event is refused and changes nothing; the rest of the batch is stored', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1', 'd2']);
      await seedOrganization(store, 'other', ['x1']);
      const mine = event('e1', 'org', 'd1', { at: 1 });
      const theirs = event('x', 'other', 'x1', { at: 2 });
      await store.write(emptyBatch({ events: [mine, theirs] }));
      const outcome = await store.write(
        emptyBatch({
          telemetry: [{ deviceId: 'd1', points: [{ key: 't', ts: 7, value: 7 }] }],
          eventModifications: [
            modification('e1', 'd2', { data: 'stolen', telemetryKey: 'raw' }),
            modification('x', 'd2', { data: 'across tenants', telemetryKey: 'raw' }),
            modification('e1', 'd1', { data: 'mine', telemetryKey: 'raw' }),
          ],
        }),
      );
      assert.deepEqual(outcome.modifications, [
        { refused: 'other-device' },
        // Another organization's event is reported as missing: tenants learn nothing of each other's ids.
        { refused: 'not-found' },
        { applied: { ...mine, data: 'mine' } },
      ]);
      assert.deepEqual(await eventsOf(store, ['d1', 'd2']), [{ ...mine, data: 'mine' }]);
      assert.deepEqual(await eventsOf(store, ['x1']), [theirs]);
      assert.deepEqual(await pointsOf(store, 'd2', 'raw'), []);
      assert.deepEqual(await store.latestTelemetry('d1'), [
        { key: 'raw', ts: 1, value: 'mine' },
        { key: 't', ts: 7, value: 7 },
      ]);
    }));

  test('a modification of an unknown id is refused as not found and stores nothing of it', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      const outcome = await store.write(
        emptyBatch({ eventModifications: [modification('nobody', 'd1', { telemetryKey: 'raw' })] }),
      );
      assert.deepEqual(outcome.modifications, [{ refused: 'not-found' }]);
      assert.deepEqual(await eventsOf(store, ['d1']), []);
      assert.deepEqual(await store.telemetryKeys('d1'), []);
    }));

  test('an applied modification writes its telemetry copy at the event’s time after the change; null data none', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await store.write(
        emptyBatch({
          telemetry: [{ deviceId: 'd1', points: [{ key: 'temp', ts: 10, value: 20 }] }],
          events: [event('e1', 'org', 'd1', { at: 10, stream: 'temp', data: 20 })],
        }),
      );
      // Same time: the copy's value is replaced.
      await store.write(
        emptyBatch({
          eventModifications: [modification('e1', 'd1', { stream: 'temp', data: 21, telemetryKey: 'temp' })],
        }),
      );
      assert.deepEqual(await pointsOf(store, 'd1', 'temp'), [{ ts: 10, value: 21 }]);
      // A new time: a point there; the one at the old time stays (telemetry is history).
      await store.write(
        emptyBatch({
          eventModifications: [
            modification('e1', 'd1', { stream: 'temp', data: 22, at: { ms: 15, text: null }, telemetryKey: 'temp' }),
          ],
        }),
      );
      assert.deepEqual(await pointsOf(store, 'd1', 'temp'), [
        { ts: 10, value: 21 },
        { ts: 15, value: 22 },
      ]);
      assert.deepEqual(await store.latestTelemetry('d1'), [{ key: 'temp', ts: 15, value: 22 }]);
      await store.write(
        emptyBatch({
          eventModifications: [modification('e1', 'd1', { stream: 'temp', data: null, telemetryKey: 'temp' })],
        }),
      );
      assert.deepEqual(await pointsOf(store, 'd1', 'temp'), [
        { ts: 10, value: 21 },
        { ts: 15, value: 22 },
      ]);
      assert.equal((await eventsOf(store, ['d1']))[0]?.data, null);
    }));

  test('modifications of one event in one batch apply in order, also to an event inserted by the same batch', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      const outcome = await store.write(
        emptyBatch({
          events: [event('e1', 'org', 'd1', { at: 1 })],
          eventModifications: [
            modification('e1', 'd1', { data: 'first', at: { ms: 2, text: null } }),
            modification('e1', 'd1', { data: 'second' }),
          ],
        }),
      );
      assert.deepEqual(
        outcome.modifications.map((result) => ('applied' in result ? [result.applied.data, result.applied.at] : [])),
        [
          ['first', 2],
          ['second', 2],
        ],
      );
      assert.deepEqual(await eventsOf(store, ['d1']), [event('e1', 'org', 'd1', { at: 2, data: 'second' })]);
    }));

  test('a modification for an unknown device fails the batch like any other unknown device', () =>
    withStore(async (store) => {
      await seedOrganization(store, 'org', ['d1']);
      await assert.rejects(
        store.write(
          emptyBatch({
            events: [event('e1', 'org', 'd1')],
            eventModifications: [modification('e1', 'ghost')],
          }),
        ),
        (error: unknown) => error instanceof UnknownDeviceError && error.deviceIds.includes('ghost'),
      );
      assert.deepEqual(await eventsOf(store, ['d1']), []);
    }));
}
