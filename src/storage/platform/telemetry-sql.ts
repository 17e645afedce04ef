/** Pieces of the telemetry write and aggregate paths that both platform stores share. */
import type { Aggregation, TelemetryAggregateQuery } from '../platform-store.js';

/**
 * Collects the newest point per (device, key) series of a batch, so the latest-values table gets one upsert per
 * series instead of one per point (and PostgreSQL's multi-row upsert never meets the same row twice). At an equal
 * ts the later point wins, as in the telemetry table.
 */
export interface NewestPerSeries<T> {
  offer(deviceSeq: number, keyId: number, ts: number, value: T): void;
  forEach(visit: (deviceSeq: number, keyId: number, ts: number, value: T) => void): void;
}

export function newestPerSeries<T>(): NewestPerSeries<T> {
  // Nested maps keyed by numbers: no string built per point.
  const byDevice = new Map<number, Map<number, { ts: number; value: T }>>();
  return {
    offer(deviceSeq, keyId, ts, value) {
      let byKey = byDevice.get(deviceSeq);
      if (byKey === undefined) byDevice.set(deviceSeq, (byKey = new Map<number, { ts: number; value: T }>()));
      const current = byKey.get(keyId);
      if (current === undefined) byKey.set(keyId, { ts, value });
      else if (ts >= current.ts) {
        current.ts = ts;
        current.value = value;
      }
    },
    forEach(visit) {
      for (const [deviceSeq, byKey] of byDevice) {
        for (const [keyId, { ts, value }] of byKey) visit(deviceSeq, keyId, ts, value);
      }
    },
  };
}

/**
 * Throws a RangeError unless the bucket arithmetic is integral: both databases divide integers exactly only when
 * `startTs` and `intervalMs` are integers.
 */
export function checkAggregateQuery(query: TelemetryAggregateQuery): void {
  if (!Number.isSafeInteger(query.intervalMs) || query.intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive integer, got ${String(query.intervalMs)}`);
  }
  if (!Number.isSafeInteger(query.startTs) || !Number.isSafeInteger(query.endTs)) {
    throw new RangeError('startTs and endTs must be integers');
  }
}

/**
 * The aggregate query over one device's telemetry. `numeric` is the value as a double, NULL for strings and JSON,
 * so AVG/MIN/MAX/SUM skip them while COUNT(*) counts every point; a bucket holding no number is left out rather
 * than reported as NULL. `series`, when given, is a column selected and grouped before the bucket.
 */
export function aggregateSql(
  agg: Aggregation,
  parts: { numeric: string; bucket: string; where: string; series?: string },
): string {
  const value = agg === 'COUNT' ? 'COUNT(*)' : `${agg}(${parts.numeric})`;
  const having = agg === 'COUNT' ? '' : `HAVING COUNT(${parts.numeric}) > 0`;
  // Positional GROUP BY / ORDER BY: a bare `ts` would mean the table's column in PostgreSQL's GROUP BY.
  const groups = parts.series === undefined ? '1' : '1, 2';
  const series = parts.series === undefined ? '' : `${parts.series}, `;
  return `SELECT ${series}${parts.bucket} AS ts, ${value} AS value FROM telemetry WHERE ${parts.where}
    GROUP BY ${groups} ${having} ORDER BY ${groups}`;
}
