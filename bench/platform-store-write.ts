/**
 * Platform store telemetry write throughput: `node dist/bench/platform-store-write.js [sqlite|postgres] [batches]
 * [pointsPerKey]`. Standalone (not part of `npm run bench`'s suite). Each batch holds `pointsPerKey` (default 2,000)
 * points for each of 5 keys (a double, two integers, a boolean, a string) spread over 10 devices, one second apart
 * per series; prints data points/s for the write phase, then the time of a 1-hour, 1-minute AVG aggregate and of a
 * 1,000-point range read on one series of the filled table. PostgreSQL: `SWITCHBOARD_BENCH_PG_URL` (default
 * postgres://postgres@127.0.0.1:5432/test), in a schema `sb_bench_<random>` dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TelemetryPoint } from '../src/platform/model.js';
import {
  PostgresPlatformStore,
  SqlitePlatformStore,
  type DataBatch,
  type PlatformStore,
} from '../src/storage/index.js';

const kind = process.argv[2] ?? 'sqlite';
const batchCount = Number(process.argv[3] ?? 100);
const pointsPerKey = Number(process.argv[4] ?? 2_000);
const deviceCount = 10;
const keys = ['temperature', 'humidity', 'battery', 'online', 'status'] as const;
const warmupBatchCount = 5;
const t0 = 1_700_000_000_000;
const stepMs = 1_000;

function valueOf(key: (typeof keys)[number], i: number): TelemetryPoint['value'] {
  switch (key) {
    case 'temperature':
      return 20 + (i % 100) / 10 + 0.05;
    case 'humidity':
      return 40 + (i % 30);
    case 'battery':
      return 100 - (i % 100);
    case 'online':
      return i % 7 !== 0;
    case 'status':
      return i % 10 === 0 ? 'charging' : 'ok';
  }
}

/** Batch `b`: the next `pointsPerKey / deviceCount` seconds of every series. */
function batch(b: number): DataBatch {
  const perDevice = Math.ceil(pointsPerKey / deviceCount);
  const telemetry: DataBatch['telemetry'] = [];
  for (let d = 0; d < deviceCount; d++) {
    const points: TelemetryPoint[] = [];
    for (let i = 0; i < perDevice; i++) {
      const step = b * perDevice + i;
      for (const key of keys) points.push({ key, ts: t0 + step * stepMs, value: valueOf(key, step) });
    }
    telemetry.push({ deviceId: `d${d}`, points });
  }
  return { telemetry, attributes: [], attributeDeletes: [], events: [] };
}

async function open(): Promise<{ store: PlatformStore; cleanup: () => Promise<void> }> {
  if (kind === 'postgres') {
    const url = process.env['SWITCHBOARD_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
    const schema = `sb_bench_${randomBytes(4).toString('hex')}`;
    const store = await PostgresPlatformStore.open(url, { schema });
    return {
      store,
      cleanup: async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
      },
    };
  }
  if (kind !== 'sqlite') throw new Error(`unknown store "${kind}": sqlite or postgres`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-platform-'));
  const store = await SqlitePlatformStore.open(path.join(dir, 'platform.db'));
  return { store, cleanup: () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true })) };
}

async function timeMs(body: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const { store, cleanup } = await open();
try {
  await store.createOrganization({ id: 'org', name: 'bench', retentionDays: null, mqttId: 'bench', createdAt: t0 });
  for (let d = 0; d < deviceCount; d++) {
    await store.createDevice({
      id: `d${d}`,
      orgId: 'org',
      name: `device ${d}`,
      profileId: 'p',
      zoneId: null,
      systemId: null,
      index: null,
      isGateway: false,
      gatewayId: null,
      createdAt: t0,
      credentials: { type: 'ACCESS_TOKEN', accessToken: `token-${d}` },
    });
  }
  for (let b = 0; b < warmupBatchCount; b++) await store.write(batch(b));
  const pointsPerBatch = pointsPerKey * keys.length;
  // Batches are built one at a time (10 million points held at once would not fit the heap); only writes are timed.
  let elapsedMs = 0;
  for (let b = 0; b < batchCount; b++) {
    const next = batch(warmupBatchCount + b);
    elapsedMs += await timeMs(() => store.write(next));
  }
  const points = batchCount * pointsPerBatch;
  const perSecond = Math.round(points / (elapsedMs / 1000));
  console.log(
    `${kind}: ${points.toLocaleString('en')} points in ${batchCount} batches of ${pointsPerBatch.toLocaleString('en')} ` +
      `(${pointsPerKey} per key × ${keys.length} keys): ${(elapsedMs / 1000).toFixed(2)} s, ` +
      `${perSecond.toLocaleString('en')} points/s`,
  );

  const total = (warmupBatchCount + batchCount) * pointsPerBatch;
  const windowStart = t0 + stepMs * 600;
  const aggregateMs = await timeMs(() =>
    store.telemetryAggregate({
      deviceId: 'd3',
      keys: ['temperature', 'humidity'],
      startTs: windowStart,
      endTs: windowStart + 3_600_000,
      intervalMs: 60_000,
      agg: 'AVG',
    }),
  );
  const rangeMs = await timeMs(() =>
    store.telemetryRange({
      deviceId: 'd3',
      keys: ['temperature'],
      startTs: windowStart,
      endTs: windowStart + 3_600_000,
      limit: 1_000,
      order: 'DESC',
    }),
  );
  console.log(
    `${kind}: table of ${total.toLocaleString('en')} points: 1-hour AVG at 1-minute buckets over 2 keys ` +
      `${aggregateMs.toFixed(1)} ms, 1,000-point range ${rangeMs.toFixed(1)} ms`,
  );
} finally {
  await store.close();
  await cleanup();
}
