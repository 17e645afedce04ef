/**
 * Data records in and out. In: each record becomes a platform event (stream = channel, the record's OID as id, `at`,
 * `expiresAt` from `expire_at` or `ttl`) and, unless its data is null or it is private, a telemetry point keyed by
 * the channel, in one group commit; once committed the record is published as the server on
 * `<plug-id>/data/<channel>` as `{"id","data","at"}`, so MQTT and HTTP publishers reach subscribers the same way.
 * Out: stored records read back for `GET /iot/data/<mask>`. Private records follow private-records.ts both ways.
 */
import type { Broker } from '../../broker/index.js';
import type { DeviceEvent, TelemetryPoint } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { oidTimeMs, isOid } from './plug-id.js';
import type { CloudplugsStore } from './module-store.js';
import { maySeePrivate, privatePayload, type RecordReader } from './private-records.js';
import { deliveredPayload, parseTimestamp, type DataRecord } from './records.js';
import type { PlugDevice } from './registry.js';
import { dataTopic, matchesMask } from './topics.js';

/**
 * Commits `records` of `target` on `channel`, then delivers them live; `done` after both. `publisher` is the device
 * that published them (undefined: an account or user), which may read the private ones too.
 */
export function ingestRecords(
  platform: Platform,
  store: CloudplugsStore,
  broker: () => Broker | undefined,
  target: PlugDevice,
  publisher: PlugDevice | undefined,
  channel: string,
  records: readonly DataRecord[],
  deliveryQos: 0 | 1,
  done: (error: Error | undefined) => void,
): void {
  const post = (): void => {
    const events = records.map((r) => ({
      id: r.id,
      stream: channel,
      at: r.at,
      atText: r.atText,
      data: r.data,
      expiresAt: r.expiresAt,
    }));
    // A private record has no telemetry copy: a channel's telemetry is read by every reader of the device (property
    // links, `GET /iot/channel`, the latest value in the feed), which is exactly who must not see it. The copy does
    // not follow the record's `ttl`: a point is only (device, key, ts), so it cannot be told from another writer's
    // (docs/cloudplugs.md, "Not done / known limits").
    const points: TelemetryPoint[] = [];
    for (const r of records) {
      if (r.data !== null && !r.isPrivate) points.push({ key: channel, ts: r.at, value: r.data });
    }
    // Both posts land in the same batch (the writer commits once per event-loop turn): one commit, two callbacks.
    let pending = points.length === 0 ? 1 : 2;
    let failure: Error | undefined;
    const settle = (error: Error | undefined): void => {
      failure ??= error;
      if (--pending > 0) return;
      if (failure === undefined) deliver(broker(), target, publisher, channel, records, deliveryQos);
      done(failure);
    };
    platform.postEvents(target.device, events, settle);
    if (points.length > 0) platform.postTelemetry(target.device, points, settle);
  };
  const privateRecords = records.filter((r) => r.isPrivate);
  if (privateRecords.length === 0) {
    post();
    return;
  }
  // The private mark is written first, so a private record is never readable unmarked.
  store
    .markPrivate(
      privateRecords.map((r) => ({
        eventId: r.id,
        deviceId: target.device.id,
        publisherDeviceId: publisher?.device.id ?? null,
      })),
    )
    .then(post, (error: unknown) => {
      done(error instanceof Error ? error : new Error(String(error)));
    });
}

/**
 * Publishes each record on its data topic. A private one goes to guarded subscriptions only (an anonymous `#` must
 * not get it), with a payload the dialect's guard recognises and knows the owners of (private-records.ts).
 */
function deliver(
  broker: Broker | undefined,
  target: PlugDevice,
  publisher: PlugDevice | undefined,
  channel: string,
  records: readonly DataRecord[],
  qos: 0 | 1,
): void {
  if (broker === undefined) return;
  const topicName = dataTopic(target.row.plugId, channel);
  const owners = { ownerDeviceId: target.device.id, publisherDeviceId: publisher?.device.id ?? null };
  for (const record of records) {
    if (!record.isPrivate) {
      broker.publish({ topicName, payload: deliveredPayload(record), qos, isRetained: false, properties: undefined });
      continue;
    }
    const payload = privatePayload(record, owners);
    broker.publish({ topicName, payload, qos, isRetained: false, properties: undefined }, { guardedOnly: true });
  }
}

/** A read of stored records (`GET /iot/data/<mask>`). */
export interface RecordQuery {
  mask: string;
  /** The devices whose records are read (already permission-checked). */
  targets: readonly PlugDevice[];
  /** Exclusive bounds, epoch ms. */
  beforeMs?: number | undefined;
  afterMs?: number | undefined;
  /** Exact times. */
  atMs?: readonly number[] | undefined;
  offset: number;
  limit: number;
  /** Who reads: private records are included only as private-records.ts allows. */
  reader: RecordReader;
  /** Upper bound on events examined for a wildcard mask. */
  maxScan: number;
}

/** A record as read back: `{id, channel, data, at, of}` (`of` the publishing Plug-ID). */
export interface ReadRecord {
  id: string;
  channel: string;
  data: DeviceEvent['data'];
  at: number;
  of: string;
}

/** Newest first. Exact masks query one stream; wildcard masks scan pages of the devices' events (bounded). */
export async function readRecords(
  platform: Platform,
  store: CloudplugsStore,
  query: RecordQuery,
): Promise<ReadRecord[]> {
  if (query.targets.length === 0) return [];
  const plugOf = new Map(query.targets.map((t) => [t.device.id, t.row.plugId]));
  const isExact = !query.mask.includes('+') && !query.mask.includes('#');
  const ranges =
    query.atMs === undefined
      ? [{ since: query.afterMs === undefined ? undefined : query.afterMs + 1, until: query.beforeMs }]
      : query.atMs.map((at) => ({ since: at, until: at + 1 }));
  const wanted = query.offset + query.limit;
  const found: DeviceEvent[] = [];
  for (const range of ranges) {
    let scanned = 0;
    let pageOffset = 0;
    const pageSize = isExact ? wanted : Math.min(1000, query.maxScan);
    let matchedInRange = 0;
    while (matchedInRange < wanted && scanned < query.maxScan) {
      const page = await platform.store.queryEvents({
        deviceIds: [...plugOf.keys()],
        stream: isExact ? query.mask : undefined,
        since: range.since,
        until: range.until,
        limit: pageSize,
        offset: pageOffset,
        order: 'DESC',
      });
      scanned += page.length;
      pageOffset += page.length;
      const privateIds = await store.privateAmong(page.map((e) => e.id));
      for (const event of page) {
        if (!isExact && !matchesMask(query.mask, event.stream)) continue;
        const publisherDeviceId = privateIds.get(event.id);
        if (
          publisherDeviceId !== undefined &&
          !maySeePrivate(query.reader, { ownerDeviceId: event.deviceId, publisherDeviceId })
        ) {
          continue;
        }
        found.push(event);
        matchedInRange++;
      }
      if (page.length < pageSize) break;
    }
  }
  found.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
  return found.slice(query.offset, wanted).map((e) => ({
    id: e.id,
    channel: e.stream,
    data: e.data,
    at: e.at,
    of: plugOf.get(e.deviceId) ?? '',
  }));
}

/** `before` / `after`: a timestamp, or an OID standing for the time it encodes (plug-id.ts). */
export function boundMs(value: string, field: string): number {
  return isOid(value) ? oidTimeMs(value) : parseTimestamp(value, field).ms;
}
