/**
 * Device data in the PostgreSQL platform store. A write batch is a handful of statements whatever its size: one
 * multi-row statement per table, the rows passed as arrays and expanded by `unnest` (one round trip and one plan per
 * table instead of one per point). Statements are named, so each connection parses them once. Events are judged per
 * row by the same statements (ON CONFLICT DO NOTHING, UPDATE … RETURNING), so a taken id or a modification that does
 * not apply leaves the rest of the batch stored without a savepoint per item.
 */
import type pg from 'pg';
import type { Attribute, AttributeScope, DataValue, DeviceEvent, TelemetryPoint } from '../../platform/model.js';
import {
  UnknownDeviceError,
  type AggregatePoint,
  type DataBatch,
  type EventModification,
  type EventQuery,
  type TelemetryAggregateQuery,
  type TelemetryRangeQuery,
  type WriteOutcome,
} from '../platform-store.js';
import { modificationPoint, refusalOf } from './event-modifications.js';
import { checkEventScope, eventSelect, toEvent, type EventRow } from './platform-rows.js';
import { aggregateSql, checkAggregateQuery, newestPerSeries } from './telemetry-sql.js';
import { decodeValue, encodeValue, type ValueColumns } from './value-codec.js';

/** Something that runs queries: the pool, or one client inside a transaction. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

interface ValueRow {
  type: number;
  bool_v: boolean | null;
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
/** unnest() of the value arrays, in `valueColumns` order, after the given leading arrays. */
const valueArrays = '$4::smallint[], $5::boolean[], $6::bigint[], $7::float8[], $8::text[], $9::text[]';

const insertTelemetry = {
  name: 'sb_insert_telemetry',
  text: `INSERT INTO telemetry (device_seq, key_id, ts, ${valueColumns})
    SELECT * FROM unnest($1::integer[], $2::integer[], $3::bigint[], ${valueArrays})
    ON CONFLICT (device_seq, key_id, ts) DO UPDATE SET ${valueUpdate}`,
};
// Newest ts wins; at an equal ts the later write wins, as in the telemetry table.
const upsertLatest = {
  name: 'sb_upsert_latest',
  text: `INSERT INTO latest AS l (device_seq, key_id, ts, ${valueColumns})
    SELECT * FROM unnest($1::integer[], $2::integer[], $3::bigint[], ${valueArrays})
    ON CONFLICT (device_seq, key_id) DO UPDATE SET ts = excluded.ts, ${valueUpdate} WHERE excluded.ts >= l.ts`,
};
const upsertAttributes = {
  name: 'sb_upsert_attributes',
  text: `INSERT INTO attributes (device_seq, scope, key, ${valueColumns}, last_update_ts)
    SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], ${valueArrays}, $10::bigint[])
    ON CONFLICT (device_seq, scope, key) DO UPDATE SET ${valueUpdate}, last_update_ts = excluded.last_update_ts`,
};
const deleteAttributes = {
  name: 'sb_delete_attributes',
  text: `DELETE FROM attributes a USING unnest($1::integer[], $2::text[], $3::text[]) AS d (device_seq, scope, key)
    WHERE a.device_seq = d.device_seq AND a.scope = d.scope AND a.key = d.key`,
};
// A taken id is skipped, not an error that aborts the transaction; RETURNING tells which rows went in.
const insertEvents = {
  name: 'sb_insert_events',
  text: `INSERT INTO events (id, org_id, device_seq, stream, at, at_text, data, expires_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::text[], $7::text[],
      $8::bigint[])
    ON CONFLICT (id) DO NOTHING RETURNING id`,
};
// Only the same device's event in the same organization matches; seq (arrival order) is kept.
const modifyEvents = {
  name: 'sb_modify_events',
  text: `UPDATE events e SET stream = u.stream, data = u.data,
      at = CASE WHEN u.is_at THEN u.at ELSE e.at END, at_text = CASE WHEN u.is_at THEN u.at_text ELSE e.at_text END,
      expires_at = CASE WHEN u.is_expiry THEN u.expires_at ELSE e.expires_at END
    FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[],
      $8::text[], $9::boolean[], $10::bigint[])
      AS u (id, device_seq, org_id, stream, data, is_at, at, at_text, is_expiry, expires_at)
    WHERE e.id = u.id AND e.device_seq = u.device_seq AND e.org_id = u.org_id
    RETURNING e.id, e.at, e.at_text, e.expires_at`,
};
const eventOwners = {
  name: 'sb_event_owners',
  text: 'SELECT id, org_id FROM events WHERE id = ANY($1::text[])',
};
// FOR KEY SHARE: a device cannot be deleted until this batch commits, so no row is written for a device whose data
// was already deleted (the delete runs after the device row is gone; see PostgresPlatformStore.deleteDevice).
const lockDevices = {
  name: 'sb_lock_devices',
  text: 'SELECT id, seq, org_id FROM devices WHERE id = ANY($1::text[]) FOR KEY SHARE',
};

/** Column arrays of value rows, appended point by point. */
class ValueArrays {
  readonly types: number[] = [];
  readonly bools: (boolean | null)[] = [];
  readonly longs: (number | null)[] = [];
  readonly doubles: (number | null)[] = [];
  readonly strings: (string | null)[] = [];
  readonly jsons: (string | null)[] = [];

  set(row: number, columns: ValueColumns): void {
    this.types[row] = columns[0];
    this.bools[row] = columns[1] === null ? null : columns[1] === 1;
    this.longs[row] = columns[2];
    this.doubles[row] = columns[3];
    this.strings[row] = columns[4];
    this.jsons[row] = columns[5];
  }

  params(): unknown[] {
    return [this.types, this.bools, this.longs, this.doubles, this.strings, this.jsons];
  }
}

function decodeRow(row: ValueRow): DataValue {
  return decodeValue(row.type, row.bool_v, row.long_v, row.dbl_v, row.str_v, row.json_v);
}

/** The device data half of `PostgresPlatformStore`. */
export class PostgresDeviceData {
  /** key text → telemetry_keys.id. Keys are never deleted and are committed before use, so entries never go stale. */
  readonly #keyIds = new Map<string, number>();

  /**
   * Ids of `keys`; with `create`, first inserts those never seen, in their own autocommitted statement (see
   * `write`). Keys unknown to the database are absent from the result.
   */
  async keyIds(db: Queryable, keys: Iterable<string>, create: boolean): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    const missing: string[] = [];
    for (const key of keys) {
      const id = this.#keyIds.get(key);
      if (id !== undefined) result.set(key, id);
      else if (!result.has(key) && !missing.includes(key)) missing.push(key);
    }
    if (missing.length === 0) return result;
    if (create) {
      await db.query('INSERT INTO telemetry_keys (key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [missing]);
    }
    const { rows } = await db.query<{ id: number; key: string }>(
      'SELECT id, key FROM telemetry_keys WHERE key = ANY($1::text[])',
      [missing],
    );
    for (const { id, key } of rows) {
      this.#keyIds.set(key, id);
      result.set(key, id);
    }
    return result;
  }

  /**
   * New keys are committed (by `pool`) before the batch's transaction: the dictionary only grows, so a key whose
   * batch then fails costs one unused row, and no process ever caches an id that was rolled back.
   */
  async prepareKeys(pool: Queryable, batch: DataBatch): Promise<void> {
    const keys = new Set<string>();
    for (const { points } of batch.telemetry) for (let i = 0; i < points.length; i++) keys.add(points[i]!.key);
    for (const modification of batch.eventModifications ?? []) {
      if (modification.telemetryKey !== undefined) keys.add(modification.telemetryKey);
    }
    await this.keyIds(pool, keys, true);
  }

  /** Applies the batch on `client`, inside the caller's transaction, after `prepareKeys`. */
  async write(client: Queryable, batch: DataBatch): Promise<WriteOutcome> {
    const devices = await this.#lockDevices(client, batch);
    const outcome: WriteOutcome = { duplicateEvents: [], modifications: [] };
    if (batch.events.length > 0) await this.#insertEvents(client, batch.events, devices, outcome.duplicateEvents);
    const modifications = batch.eventModifications ?? [];
    let telemetry = batch.telemetry;
    if (modifications.length > 0) {
      outcome.modifications = await this.#modifyEvents(client, modifications, devices);
      // The telemetry copies of the modifications that applied, after the batch's own points at the same ts.
      const copies: DataBatch['telemetry'] = [];
      for (let i = 0; i < modifications.length; i++) {
        const point = modificationPoint(modifications[i]!, outcome.modifications[i]!);
        if (point !== undefined) copies.push({ deviceId: modifications[i]!.deviceId, points: [point] });
      }
      if (copies.length > 0) telemetry = [...telemetry, ...copies];
    }
    if (telemetry.length > 0) await this.#writeTelemetry(client, telemetry, devices);
    if (batch.attributes.length > 0) {
      // One row per (device, scope, key): a multi-row upsert may not touch a row twice; the later set wins.
      const rows = new Map<string, number>();
      const seqs: number[] = [];
      const scopes: string[] = [];
      const keys: string[] = [];
      const tsList: number[] = [];
      const values = new ValueArrays();
      for (const attribute of batch.attributes) {
        const seq = devices.get(attribute.deviceId)!.seq;
        const id = `${seq}\u0000${attribute.scope}\u0000${attribute.key}`;
        const row = rows.get(id) ?? seqs.length;
        rows.set(id, row);
        seqs[row] = seq;
        scopes[row] = attribute.scope;
        keys[row] = attribute.key;
        tsList[row] = attribute.ts;
        values.set(row, encodeValue(attribute.value));
      }
      await client.query({ ...upsertAttributes, values: [seqs, scopes, keys, ...values.params(), tsList] });
    }
    if (batch.attributeDeletes.length > 0) {
      const seqs: number[] = [];
      const scopes: string[] = [];
      const keys: string[] = [];
      for (const { deviceId, scope, keys: deleted } of batch.attributeDeletes) {
        const seq = devices.get(deviceId)!.seq;
        for (const key of deleted) {
          seqs.push(seq);
          scopes.push(scope);
          keys.push(key);
        }
      }
      await client.query({ ...deleteAttributes, values: [seqs, scopes, keys] });
    }
    return outcome;
  }

  /**
   * Inserts the events; appends to `duplicates` the indexes of those whose id was taken. A repeat within the batch is
   * left out before the statement, so RETURNING's ids name the rows that went in unambiguously.
   */
  async #insertEvents(
    client: Queryable,
    events: readonly DeviceEvent[],
    devices: Map<string, { seq: number; org_id: string }>,
    duplicates: number[],
  ): Promise<void> {
    const seen = new Set<string>();
    const sent: DeviceEvent[] = [];
    const sentIndexes: number[] = [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (seen.has(event.id)) {
        duplicates.push(i);
        continue;
      }
      seen.add(event.id);
      sent.push(event);
      sentIndexes.push(i);
    }
    const device = (e: DeviceEvent) => devices.get(e.deviceId)!;
    const { rows } = await client.query<{ id: string }>({
      ...insertEvents,
      values: [
        sent.map((e) => e.id),
        sent.map((e) => device(e).org_id),
        sent.map((e) => device(e).seq),
        sent.map((e) => e.stream),
        sent.map((e) => e.at),
        sent.map((e) => e.atText),
        sent.map((e) => JSON.stringify(e.data)),
        sent.map((e) => e.expiresAt),
      ],
    });
    if (rows.length === sent.length) return; // only repeats within the batch, already in order
    const inserted = new Set(rows.map((row) => row.id));
    for (let j = 0; j < sent.length; j++) if (!inserted.has(sent[j]!.id)) duplicates.push(sentIndexes[j]!);
    duplicates.sort((a, b) => a - b);
  }

  /**
   * Applies the modifications in order. One UPDATE … FROM changes a row at most once, so the k-th modification of
   * each id goes in the k-th statement (nearly always there is one).
   */
  async #modifyEvents(
    client: Queryable,
    modifications: readonly EventModification[],
    devices: Map<string, { seq: number; org_id: string }>,
  ): Promise<WriteOutcome['modifications']> {
    const results: WriteOutcome['modifications'] = new Array<WriteOutcome['modifications'][number]>(
      modifications.length,
    );
    const rounds: number[][] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < modifications.length; i++) {
      const id = modifications[i]!.id;
      const round = seen.get(id) ?? 0;
      seen.set(id, round + 1);
      (rounds[round] ??= []).push(i);
    }
    for (const round of rounds) {
      const mods = round.map((i) => modifications[i]!);
      const device = (m: EventModification) => devices.get(m.deviceId)!;
      const { rows } = await client.query<{
        id: string;
        at: number;
        at_text: string | null;
        expires_at: number | null;
      }>({
        ...modifyEvents,
        values: [
          mods.map((m) => m.id),
          mods.map((m) => device(m).seq),
          mods.map((m) => device(m).org_id),
          mods.map((m) => m.stream),
          mods.map((m) => JSON.stringify(m.data)),
          mods.map((m) => m.at !== undefined),
          mods.map((m) => m.at?.ms ?? null),
          mods.map((m) => m.at?.text ?? null),
          mods.map((m) => m.expiresAt !== undefined),
          mods.map((m) => m.expiresAt ?? null),
        ],
      });
      const applied = new Map(rows.map((row) => [row.id, row]));
      const missing: string[] = [];
      for (const i of round) {
        const m = modifications[i]!;
        const row = applied.get(m.id);
        if (row === undefined) {
          missing.push(m.id);
          continue;
        }
        results[i] = {
          applied: {
            id: m.id,
            orgId: device(m).org_id,
            deviceId: m.deviceId,
            stream: m.stream,
            at: row.at,
            atText: row.at_text,
            data: m.data,
            expiresAt: row.expires_at,
          },
        };
      }
      if (missing.length === 0) continue;
      const owners = await client.query<{ id: string; org_id: string }>({ ...eventOwners, values: [missing] });
      const ownerOf = new Map(owners.rows.map((row) => [row.id, row]));
      for (const i of round) {
        const m = modifications[i]!;
        if (results[i] === undefined) results[i] = { refused: refusalOf(ownerOf.get(m.id), device(m).org_id) };
      }
    }
    return results;
  }

  /** Every device the batch names, locked; throws UnknownDeviceError (the caller rolls back) when one is missing. */
  async #lockDevices(client: Queryable, batch: DataBatch): Promise<Map<string, { seq: number; org_id: string }>> {
    const ids = new Set<string>();
    for (const entry of batch.telemetry) ids.add(entry.deviceId);
    for (const entry of batch.attributes) ids.add(entry.deviceId);
    for (const entry of batch.attributeDeletes) ids.add(entry.deviceId);
    for (const event of batch.events) ids.add(event.deviceId);
    for (const modification of batch.eventModifications ?? []) ids.add(modification.deviceId);
    const devices = new Map<string, { seq: number; org_id: string }>();
    if (ids.size === 0) return devices;
    const { rows } = await client.query<{ id: string; seq: number; org_id: string }>({
      ...lockDevices,
      values: [[...ids]],
    });
    for (const row of rows) devices.set(row.id, row);
    const unknown = [...ids].filter((id) => !devices.has(id));
    if (unknown.length > 0) throw new UnknownDeviceError(unknown);
    return devices;
  }

  async #writeTelemetry(
    client: Queryable,
    telemetry: DataBatch['telemetry'],
    devices: Map<string, { seq: number; org_id: string }>,
  ): Promise<void> {
    const seqs: number[] = [];
    const keyIds: number[] = [];
    const tsList: number[] = [];
    const values = new ValueArrays();
    // (device, key, ts) → row: a point repeated within the batch overwrites its row (the later one wins), because a
    // multi-row upsert may not touch the same row twice.
    const rows = new Map<number, Map<number, Map<number, number>>>();
    const newest = newestPerSeries<ValueColumns>();
    for (const { deviceId, points } of telemetry) {
      const seq = devices.get(deviceId)!.seq;
      let byKey = rows.get(seq);
      if (byKey === undefined) rows.set(seq, (byKey = new Map<number, Map<number, number>>()));
      for (let i = 0; i < points.length; i++) {
        const point = points[i]!;
        const keyId = this.#keyIds.get(point.key)!;
        let byTs = byKey.get(keyId);
        if (byTs === undefined) byKey.set(keyId, (byTs = new Map<number, number>()));
        let row = byTs.get(point.ts);
        if (row === undefined) {
          row = seqs.length;
          byTs.set(point.ts, row);
          seqs.push(seq);
          keyIds.push(keyId);
          tsList.push(point.ts);
        }
        const columns = encodeValue(point.value);
        values.set(row, columns);
        newest.offer(seq, keyId, point.ts, columns);
      }
    }
    await client.query({ ...insertTelemetry, values: [seqs, keyIds, tsList, ...values.params()] });
    const latestSeqs: number[] = [];
    const latestKeyIds: number[] = [];
    const latestTs: number[] = [];
    const latestValues = new ValueArrays();
    newest.forEach((seq, keyId, ts, columns) => {
      latestValues.set(latestSeqs.length, columns);
      latestSeqs.push(seq);
      latestKeyIds.push(keyId);
      latestTs.push(ts);
    });
    await client.query({ ...upsertLatest, values: [latestSeqs, latestKeyIds, latestTs, ...latestValues.params()] });
  }

  async latestTelemetry(db: Queryable, deviceId: string, keys: string[] | undefined): Promise<TelemetryPoint[]> {
    const { rows } = await db.query<KeyedValueRow>(
      `SELECT k.key, l.ts, l.${valueColumns.replaceAll(', ', ', l.')}
       FROM devices d JOIN latest l ON l.device_seq = d.seq JOIN telemetry_keys k ON k.id = l.key_id
       WHERE d.id = $1 AND ($2::text[] IS NULL OR k.key = ANY($2::text[])) ORDER BY k.key`,
      [deviceId, keys ?? null],
    );
    return rows.map((row) => ({ key: row.key, ts: row.ts, value: decodeRow(row) }));
  }

  async telemetryKeys(db: Queryable, deviceId: string): Promise<string[]> {
    const { rows } = await db.query<{ key: string }>(
      `SELECT k.key FROM devices d JOIN latest l ON l.device_seq = d.seq JOIN telemetry_keys k ON k.id = l.key_id
       WHERE d.id = $1 ORDER BY k.key`,
      [deviceId],
    );
    return rows.map((row) => row.key);
  }

  /** One statement: a LATERAL index range scan per key, each with its own LIMIT. */
  async telemetryRange(
    db: Queryable,
    query: TelemetryRangeQuery,
  ): Promise<Map<string, { ts: number; value: DataValue }[]>> {
    const order = query.order === 'DESC' ? 'DESC' : 'ASC';
    const { rows } = await db.query<KeyedValueRow>(
      `SELECT k.key, t.ts, t.${valueColumns.replaceAll(', ', ', t.')}
       FROM devices d
       JOIN telemetry_keys k ON k.key = ANY($2::text[])
       CROSS JOIN LATERAL (
         SELECT ts, ${valueColumns} FROM telemetry
         WHERE device_seq = d.seq AND key_id = k.id AND ts >= $3 AND ts < $4 ORDER BY ts ${order} LIMIT $5
       ) t
       WHERE d.id = $1 ORDER BY k.key, t.ts ${order}`,
      [query.deviceId, query.keys, query.startTs, query.endTs, query.limit],
    );
    const result = new Map<string, { ts: number; value: DataValue }[]>();
    for (const row of rows) {
      let points = result.get(row.key);
      if (points === undefined) result.set(row.key, (points = []));
      points.push({ ts: row.ts, value: decodeRow(row) });
    }
    return result;
  }

  /** One statement: GROUP BY (key, bucket) over each key's index range. */
  async telemetryAggregate(db: Queryable, query: TelemetryAggregateQuery): Promise<Map<string, AggregatePoint[]>> {
    checkAggregateQuery(query);
    const result = new Map<string, AggregatePoint[]>();
    const keyIds = await this.keyIds(db, new Set(query.keys), false);
    if (keyIds.size === 0) return result;
    const keyById = new Map([...keyIds].map(([key, id]) => [id, key]));
    const { rows } = await db.query<AggregatePoint & { key_id: number }>(
      aggregateSql(query.agg, {
        series: 'key_id',
        numeric: 'COALESCE(dbl_v, long_v::float8, bool_v::integer::float8)',
        bucket: 'ts - ((ts - $3::bigint) % $5::bigint)',
        where:
          'device_seq = (SELECT seq FROM devices WHERE id = $1) AND key_id = ANY($2::integer[]) ' +
          'AND ts >= $3::bigint AND ts < $4::bigint',
      }),
      [query.deviceId, [...keyIds.values()], query.startTs, query.endTs, query.intervalMs],
    );
    for (const row of rows) {
      const key = keyById.get(row.key_id)!;
      let points = result.get(key);
      if (points === undefined) result.set(key, (points = []));
      points.push({ ts: row.ts, value: row.value });
    }
    return result;
  }

  async getAttributes(
    db: Queryable,
    deviceId: string,
    scope: AttributeScope,
    keys: string[] | undefined,
  ): Promise<Attribute[]> {
    const { rows } = await db.query<KeyedValueRow>(
      `SELECT a.key, a.last_update_ts AS ts, a.${valueColumns.replaceAll(', ', ', a.')}
       FROM devices d JOIN attributes a ON a.device_seq = d.seq
       WHERE d.id = $1 AND a.scope = $2 AND ($3::text[] IS NULL OR a.key = ANY($3::text[])) ORDER BY a.key`,
      [deviceId, scope, keys ?? null],
    );
    return rows.map((row) => ({ scope, key: row.key, value: decodeRow(row), lastUpdateTs: row.ts }));
  }

  async queryEvents(db: Queryable, query: EventQuery): Promise<DeviceEvent[]> {
    checkEventScope(query);
    const order = query.order === 'DESC' ? 'DESC' : 'ASC';
    const params: unknown[] = [
      query.stream ?? null,
      query.since ?? Number.MIN_SAFE_INTEGER,
      query.until ?? Number.MAX_SAFE_INTEGER,
      query.limit,
      query.offset ?? 0,
    ];
    // Only the scopes given become conditions (and parameters), so the planner sees which index fits: the
    // device's (events_device_at) or the organization's (events_org_at).
    const scope: string[] = [];
    if (query.deviceIds !== undefined) scope.push(`d.id = ANY($${String(params.push(query.deviceIds))}::text[])`);
    if (query.orgId !== undefined) scope.push(`e.org_id = $${String(params.push(query.orgId))}`);
    const { rows } = await db.query<EventRow>(
      `SELECT ${eventSelect} FROM devices d JOIN events e ON e.device_seq = d.seq
       WHERE ${scope.join(' AND ')} AND ($1::text IS NULL OR e.stream = $1) AND e.at >= $2 AND e.at < $3
       ORDER BY e.at ${order}, e.seq ${order} LIMIT $4 OFFSET $5`,
      params,
    );
    return rows.map(toEvent);
  }

  /**
   * Bounded retention, in the caller's transaction. Telemetry is found through `latest` (one row per series), so
   * each series costs one index seek to its oldest points; rows are deleted by ctid (a TID scan).
   */
  async deleteExpired(
    client: Queryable,
    orgId: string,
    beforeTs: number,
    limit: number,
    nowMs: number,
  ): Promise<number> {
    let deleted =
      (
        await client.query(
          `DELETE FROM telemetry WHERE ctid = ANY(ARRAY(
             SELECT t.ctid FROM devices d
             JOIN latest l ON l.device_seq = d.seq
             CROSS JOIN LATERAL (
               SELECT ctid FROM telemetry WHERE device_seq = l.device_seq AND key_id = l.key_id AND ts < $2 LIMIT $3
             ) t
             WHERE d.org_id = $1 LIMIT $3))`,
          [orgId, beforeTs, limit],
        )
      ).rowCount ?? 0;
    if (deleted < limit) {
      deleted +=
        (
          await client.query(
            'DELETE FROM events WHERE seq = ANY(ARRAY(SELECT seq FROM events WHERE org_id = $1 AND at < $2 LIMIT $3))',
            [orgId, beforeTs, limit - deleted],
          )
        ).rowCount ?? 0;
    }
    if (deleted < limit) {
      deleted +=
        (
          await client.query(
            `DELETE FROM events WHERE seq = ANY(ARRAY(
               SELECT seq FROM events WHERE org_id = $1 AND expires_at < $2 LIMIT $3))`,
            [orgId, nowMs, limit - deleted],
          )
        ).rowCount ?? 0;
    }
    return deleted;
  }

  /** Deletes the devices' telemetry, latest values and events (the tables without a foreign key). */
  async deleteDataOf(client: Queryable, deviceSeqs: readonly number[]): Promise<void> {
    if (deviceSeqs.length === 0) return;
    for (const table of ['telemetry', 'latest', 'events']) {
      await client.query(`DELETE FROM ${table} WHERE device_seq = ANY($1::integer[])`, [deviceSeqs]);
    }
  }
}
