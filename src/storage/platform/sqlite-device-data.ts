/**
 * Device data in the SQLite platform store: the write batch, telemetry queries and aggregates, attributes, events
 * and retention. Every statement is prepared once; a batch is one transaction of single-row statements, which SQLite
 * runs at several hundred thousand rows per second. Events are judged per row inside that one transaction (an insert
 * that changed nothing is a taken id; an update that matched nothing did not apply), so no item needs a savepoint.
 */
import type Database from 'better-sqlite3';
import type { Attribute, AttributeScope, DataValue, DeviceEvent, TelemetryPoint } from '../../platform/model.js';
import {
  UnknownDeviceError,
  type AggregatePoint,
  type DataBatch,
  type EventQuery,
  type TelemetryAggregateQuery,
  type TelemetryRangeQuery,
  type WriteOutcome,
} from '../platform-store.js';
import { fromSqliteError } from './duplicates.js';
import { modificationPoint, refusalOf } from './event-modifications.js';
import { checkEventScope, eventSelect, toEvent, type EventRow } from './platform-rows.js';
import { aggregateSql, checkAggregateQuery, newestPerSeries } from './telemetry-sql.js';
import { decodeValue, encodeValue, type ValueColumns } from './value-codec.js';

type Statement<P extends unknown[], R = unknown> = Database.Statement<P, R>;

interface ValueRow {
  type: number;
  bool_v: number | null;
  long_v: number | null;
  dbl_v: number | null;
  str_v: string | null;
  json_v: string | null;
}
interface KeyedValueRow extends ValueRow {
  key: string;
  ts: number;
}

const valueColumns = 'type, bool_v, long_v, dbl_v, str_v, json_v';
const valueUpdate =
  'type = excluded.type, bool_v = excluded.bool_v, long_v = excluded.long_v, dbl_v = excluded.dbl_v, ' +
  'str_v = excluded.str_v, json_v = excluded.json_v';

function decodeRow(row: ValueRow): DataValue {
  return decodeValue(row.type, row.bool_v, row.long_v, row.dbl_v, row.str_v, row.json_v);
}

/** The device data half of `SqlitePlatformStore`; shares its connection. */
export class SqliteDeviceData {
  readonly #db: Database.Database;
  /** key text → telemetry_keys.id. Keys are never deleted, so an entry never goes stale. */
  readonly #keyIds = new Map<string, number>();
  readonly #deviceSeq: Statement<[string], { seq: number; org_id: string }>;
  readonly #insertKey: Statement<[string]>;
  readonly #selectKeyId: Statement<[string], { id: number }>;
  readonly #putTelemetry: Statement<[number, number, number, ...ValueColumns]>;
  readonly #putLatest: Statement<[number, number, number, ...ValueColumns]>;
  readonly #putAttribute: Statement<[number, AttributeScope, string, ...ValueColumns, number]>;
  readonly #deleteAttribute: Statement<[number, AttributeScope, string]>;
  readonly #insertEvent: Statement<[string, string, number, string, number, string | null, string, number | null]>;
  readonly #modifyEvent: Statement<
    [Record<string, string | number | null>],
    { at: number; at_text: string | null; expires_at: number | null }
  >;
  readonly #eventOwner: Statement<[string], { org_id: string; device_seq: number }>;
  readonly #applyBatch: (batch: DataBatch) => WriteOutcome;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#deviceSeq = db.prepare('SELECT seq, org_id FROM devices WHERE id = ?');
    this.#insertKey = db.prepare('INSERT INTO telemetry_keys (key) VALUES (?) ON CONFLICT DO NOTHING');
    this.#selectKeyId = db.prepare('SELECT id FROM telemetry_keys WHERE key = ?');
    // A point written again at the same ts replaces the stored one (ThingsBoard's ts_kv upsert).
    this.#putTelemetry = db.prepare(
      `INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_seq, key_id, ts) DO UPDATE SET ${valueUpdate}`,
    );
    // Newest ts wins; at an equal ts the later write wins, as in the telemetry table.
    this.#putLatest = db.prepare(
      `INSERT INTO latest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_seq, key_id) DO UPDATE SET ts = excluded.ts, ${valueUpdate} WHERE excluded.ts >= latest.ts`,
    );
    this.#putAttribute = db.prepare(
      `INSERT INTO attributes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_seq, scope, key) DO UPDATE SET ${valueUpdate}, last_update_ts = excluded.last_update_ts`,
    );
    this.#deleteAttribute = db.prepare('DELETE FROM attributes WHERE device_seq = ? AND scope = ? AND key = ?');
    // A taken id changes nothing (changes = 0) instead of failing the whole batch's transaction.
    this.#insertEvent = db.prepare(
      `INSERT INTO events (id, org_id, device_seq, stream, at, at_text, data, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    );
    // Only the same device's event in the same organization matches; seq (arrival order) is kept.
    this.#modifyEvent = db.prepare(
      `UPDATE events SET stream = @stream, data = @data,
         at = CASE WHEN @isAt THEN @at ELSE at END, at_text = CASE WHEN @isAt THEN @atText ELSE at_text END,
         expires_at = CASE WHEN @isExpiry THEN @expiresAt ELSE expires_at END
       WHERE id = @id AND device_seq = @seq AND org_id = @org
       RETURNING at, at_text, expires_at`,
    );
    this.#eventOwner = db.prepare('SELECT org_id, device_seq FROM events WHERE id = ?');
    this.#applyBatch = db.transaction((batch: DataBatch) => this.#apply(batch));
  }

  /** The device's surrogate key and organization, or undefined. */
  device(deviceId: string): { seq: number; org_id: string } | undefined {
    return this.#deviceSeq.get(deviceId);
  }

  write(batch: DataBatch): WriteOutcome {
    // New keys are committed before the batch, in their own statements: the dictionary only grows, so a key whose
    // batch then fails costs one unused row and the cache never holds an id that was rolled back.
    for (const { points } of batch.telemetry) {
      for (let i = 0; i < points.length; i++) this.#keyId(points[i]!.key, true);
    }
    for (const modification of batch.eventModifications ?? []) {
      if (modification.telemetryKey !== undefined) this.#keyId(modification.telemetryKey, true);
    }
    try {
      return this.#applyBatch(batch);
    } catch (error) {
      throw fromSqliteError(error);
    }
  }

  #apply(batch: DataBatch): WriteOutcome {
    const devices = this.#resolveDevices(batch);
    const outcome = this.#applyEvents(batch, devices);
    const newest = newestPerSeries<ValueColumns>();
    for (const { deviceId, points } of batch.telemetry) {
      const seq = devices.get(deviceId)!.seq;
      for (let i = 0; i < points.length; i++) {
        const point = points[i]!;
        const keyId = this.#keyIds.get(point.key)!;
        const columns = encodeValue(point.value);
        this.#putTelemetry.run(seq, keyId, point.ts, ...columns);
        newest.offer(seq, keyId, point.ts, columns);
      }
    }
    // The telemetry copies of the modifications that applied, after the batch's own points at the same ts.
    const modifications = batch.eventModifications ?? [];
    for (let i = 0; i < modifications.length; i++) {
      const point = modificationPoint(modifications[i]!, outcome.modifications[i]!);
      if (point === undefined) continue;
      const seq = devices.get(modifications[i]!.deviceId)!.seq;
      const keyId = this.#keyIds.get(point.key)!;
      const columns = encodeValue(point.value);
      this.#putTelemetry.run(seq, keyId, point.ts, ...columns);
      newest.offer(seq, keyId, point.ts, columns);
    }
    newest.forEach((seq, keyId, ts, columns) => this.#putLatest.run(seq, keyId, ts, ...columns));
    for (const attribute of batch.attributes) {
      const seq = devices.get(attribute.deviceId)!.seq;
      this.#putAttribute.run(seq, attribute.scope, attribute.key, ...encodeValue(attribute.value), attribute.ts);
    }
    for (const { deviceId, scope, keys } of batch.attributeDeletes) {
      const seq = devices.get(deviceId)!.seq;
      for (const key of keys) this.#deleteAttribute.run(seq, scope, key);
    }
    return outcome;
  }

  /** Inserts the new events, then applies the modifications in order; reports what was left out. */
  #applyEvents(batch: DataBatch, devices: Map<string, { seq: number; org_id: string }>): WriteOutcome {
    const outcome: WriteOutcome = { duplicateEvents: [], modifications: [] };
    const events = batch.events;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const device = devices.get(event.deviceId)!;
      const { changes } = this.#insertEvent.run(
        event.id,
        device.org_id,
        device.seq,
        event.stream,
        event.at,
        event.atText,
        JSON.stringify(event.data),
        event.expiresAt,
      );
      if (changes === 0) outcome.duplicateEvents.push(i);
    }
    for (const modification of batch.eventModifications ?? []) {
      const device = devices.get(modification.deviceId)!;
      const row = this.#modifyEvent.get({
        id: modification.id,
        seq: device.seq,
        org: device.org_id,
        stream: modification.stream,
        data: JSON.stringify(modification.data),
        isAt: modification.at === undefined ? 0 : 1,
        at: modification.at?.ms ?? null,
        atText: modification.at?.text ?? null,
        isExpiry: modification.expiresAt === undefined ? 0 : 1,
        expiresAt: modification.expiresAt ?? null,
      });
      if (row === undefined) {
        outcome.modifications.push({ refused: refusalOf(this.#eventOwner.get(modification.id), device.org_id) });
        continue;
      }
      outcome.modifications.push({
        applied: {
          id: modification.id,
          orgId: device.org_id,
          deviceId: modification.deviceId,
          stream: modification.stream,
          at: row.at,
          atText: row.at_text,
          data: modification.data,
          expiresAt: row.expires_at,
        },
      });
    }
    return outcome;
  }

  /** Every device the batch names; throws UnknownDeviceError (before anything is written) when one is missing. */
  #resolveDevices(batch: DataBatch): Map<string, { seq: number; org_id: string }> {
    const devices = new Map<string, { seq: number; org_id: string }>();
    const unknown: string[] = [];
    const resolve = (deviceId: string): void => {
      if (devices.has(deviceId) || unknown.includes(deviceId)) return;
      const device = this.#deviceSeq.get(deviceId);
      if (device === undefined) unknown.push(deviceId);
      else devices.set(deviceId, device);
    };
    for (const entry of batch.telemetry) resolve(entry.deviceId);
    for (const entry of batch.attributes) resolve(entry.deviceId);
    for (const entry of batch.attributeDeletes) resolve(entry.deviceId);
    for (const event of batch.events) resolve(event.deviceId);
    for (const modification of batch.eventModifications ?? []) resolve(modification.deviceId);
    if (unknown.length > 0) throw new UnknownDeviceError(unknown);
    return devices;
  }

  /** The key's id; with `create`, inserts a key never seen before (autocommitted, see `write`). */
  #keyId(key: string, create: boolean): number | undefined {
    let id = this.#keyIds.get(key);
    if (id !== undefined) return id;
    if (create) this.#insertKey.run(key);
    id = this.#selectKeyId.get(key)?.id;
    if (id !== undefined) this.#keyIds.set(key, id);
    return id;
  }

  latestTelemetry(deviceId: string, keys: string[] | undefined): TelemetryPoint[] {
    const sql = `SELECT k.key, l.ts, l.type, l.bool_v, l.long_v, l.dbl_v, l.str_v, l.json_v
      FROM devices d JOIN latest l ON l.device_seq = d.seq JOIN telemetry_keys k ON k.id = l.key_id
      WHERE d.id = ? ${keys === undefined ? '' : 'AND k.key IN (SELECT value FROM json_each(?))'} ORDER BY k.key`;
    const params = keys === undefined ? [deviceId] : [deviceId, JSON.stringify(keys)];
    const rows = this.#db.prepare<string[], KeyedValueRow>(sql).all(...params);
    return rows.map((row) => ({ key: row.key, ts: row.ts, value: decodeRow(row) }));
  }

  telemetryKeys(deviceId: string): string[] {
    return this.#db
      .prepare<[string], { key: string }>(
        `SELECT k.key FROM devices d JOIN latest l ON l.device_seq = d.seq JOIN telemetry_keys k ON k.id = l.key_id
         WHERE d.id = ? ORDER BY k.key`,
      )
      .all(deviceId)
      .map((row) => row.key);
  }

  /** One indexed range scan per key, each with its own LIMIT. */
  telemetryRange(query: TelemetryRangeQuery): Map<string, { ts: number; value: DataValue }[]> {
    const result = new Map<string, { ts: number; value: DataValue }[]>();
    const device = this.device(query.deviceId);
    if (device === undefined) return result;
    const statement = this.#db.prepare<[number, number, number, number, number], ValueRow & { ts: number }>(
      `SELECT ts, ${valueColumns} FROM telemetry WHERE device_seq = ? AND key_id = ? AND ts >= ? AND ts < ?
       ORDER BY ts ${query.order === 'DESC' ? 'DESC' : 'ASC'} LIMIT ?`,
    );
    for (const key of new Set(query.keys)) {
      const keyId = this.#keyId(key, false);
      if (keyId === undefined) continue;
      const rows = statement.all(device.seq, keyId, query.startTs, query.endTs, query.limit);
      if (rows.length > 0)
        result.set(
          key,
          rows.map((row) => ({ ts: row.ts, value: decodeRow(row) })),
        );
    }
    return result;
  }

  /** GROUP BY bucket in SQL over each key's index range. */
  telemetryAggregate(query: TelemetryAggregateQuery): Map<string, AggregatePoint[]> {
    checkAggregateQuery(query);
    const result = new Map<string, AggregatePoint[]>();
    const device = this.device(query.deviceId);
    if (device === undefined) return result;
    const statement = this.#db.prepare<[Record<string, number>], AggregatePoint>(
      aggregateSql(query.agg, {
        // A double, so SUM cannot overflow 64-bit integers; booleans count as 0/1.
        numeric: 'COALESCE(dbl_v, CAST(long_v AS REAL), bool_v)',
        // `%` on SQLite integers; better-sqlite3 binds numbers as doubles, so `/` would not truncate.
        bucket: 'ts - ((ts - @start) % @interval)',
        where: 'device_seq = @device AND key_id = @key AND ts >= @start AND ts < @end',
      }),
    );
    for (const key of new Set(query.keys)) {
      const keyId = this.#keyId(key, false);
      if (keyId === undefined) continue;
      const rows = statement.all({
        device: device.seq,
        key: keyId,
        start: query.startTs,
        end: query.endTs,
        interval: query.intervalMs,
      });
      if (rows.length > 0) result.set(key, rows);
    }
    return result;
  }

  getAttributes(deviceId: string, scope: AttributeScope, keys: string[] | undefined): Attribute[] {
    const sql = `SELECT a.key, a.last_update_ts AS ts, a.type, a.bool_v, a.long_v, a.dbl_v, a.str_v, a.json_v
      FROM devices d JOIN attributes a ON a.device_seq = d.seq
      WHERE d.id = ? AND a.scope = ? ${keys === undefined ? '' : 'AND a.key IN (SELECT value FROM json_each(?))'}
      ORDER BY a.key`;
    const params = keys === undefined ? [deviceId, scope] : [deviceId, scope, JSON.stringify(keys)];
    return this.#db
      .prepare<string[], KeyedValueRow>(sql)
      .all(...params)
      .map((row) => ({ scope, key: row.key, value: decodeRow(row), lastUpdateTs: row.ts }));
  }

  queryEvents(query: EventQuery): DeviceEvent[] {
    checkEventScope(query);
    const order = query.order === 'DESC' ? 'DESC' : 'ASC';
    // Only the scopes given become conditions, so the planner picks events_device_at or events_org_at; an
    // `@x IS NULL OR …` form would hide both indexes from it.
    const scope = [
      ...(query.deviceIds === undefined ? [] : ['d.id IN (SELECT value FROM json_each(@ids))']),
      ...(query.orgId === undefined ? [] : ['e.org_id = @org']),
    ].join(' AND ');
    const rows = this.#db
      .prepare<[Record<string, string | number | null>], EventRow>(
        `SELECT ${eventSelect} FROM devices d JOIN events e ON e.device_seq = d.seq
         WHERE ${scope} AND (@stream IS NULL OR e.stream = @stream)
           AND e.at >= @since AND e.at < @until
         ORDER BY e.at ${order}, e.seq ${order} LIMIT @limit OFFSET @offset`,
      )
      .all({
        ids: JSON.stringify(query.deviceIds ?? []),
        org: query.orgId ?? null,
        stream: query.stream ?? null,
        since: query.since ?? Number.MIN_SAFE_INTEGER,
        until: query.until ?? Number.MAX_SAFE_INTEGER,
        limit: query.limit,
        offset: query.offset ?? 0,
      });
    return rows.map(toEvent);
  }

  /**
   * Bounded retention. Telemetry is clustered by (device, ts), so each of the organization's devices is one index
   * seek to its oldest points rather than a scan of the whole organization's data. CROSS JOIN fixes that join order.
   */
  deleteExpired(orgId: string, beforeTs: number, limit: number, nowMs: number): number {
    return this.#db.transaction(() => {
      let deleted = this.#db
        .prepare(
          `DELETE FROM telemetry WHERE (device_seq, ts, key_id) IN (
             SELECT t.device_seq, t.ts, t.key_id FROM devices d
             CROSS JOIN telemetry t ON t.device_seq = d.seq AND t.ts < @before
             WHERE d.org_id = @org LIMIT @limit)`,
        )
        .run({ org: orgId, before: beforeTs, limit }).changes;
      if (deleted < limit) {
        deleted += this.#db
          .prepare(
            'DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE org_id = @org AND at < @before LIMIT @limit)',
          )
          .run({ org: orgId, before: beforeTs, limit: limit - deleted }).changes;
      }
      if (deleted < limit) {
        deleted += this.#db
          .prepare(
            `DELETE FROM events WHERE seq IN (
               SELECT seq FROM events WHERE org_id = @org AND expires_at < @now LIMIT @limit)`,
          )
          .run({ org: orgId, now: nowMs, limit: limit - deleted }).changes;
      }
      return deleted;
    })();
  }

  /** Deletes the devices' telemetry, latest values and events (the tables without a foreign key). */
  deleteDataOf(deviceSeqs: readonly number[]): void {
    const ids = JSON.stringify(deviceSeqs);
    for (const table of ['telemetry', 'latest', 'events']) {
      this.#db.prepare(`DELETE FROM ${table} WHERE device_seq IN (SELECT value FROM json_each(?))`).run(ids);
    }
  }

  /** Files the device's events under its new organization (claiming). */
  moveEvents(deviceSeq: number, orgId: string): void {
    this.#db.prepare('UPDATE events SET org_id = ? WHERE device_seq = ?').run(orgId, deviceSeq);
  }
}
