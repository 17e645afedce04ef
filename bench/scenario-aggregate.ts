/**
 * Scenario h: a 1-hour aggregate over a store holding `--points` points (default 10 million). The points are seeded
 * straight through the store (timed and printed, not the measure); then `telemetryAggregate` runs for one device, its
 * 5 keys, a 1-hour window in the middle of its series, 1-minute buckets: AVG five times (the median is reported),
 * MIN, MAX, SUM and COUNT once each. Every answer is checked against the known values.
 */
import { EntityService } from '../src/platform/entities.js';
import type { Aggregation, PlatformStore, TelemetryAggregateQuery } from '../src/storage/platform-store.js';
import type { BenchOptions } from './options.js';
import type { PlatformContext, PlatformScenario } from './platform-scenario.js';
import { planSeed, SEED_SPACING_MS, SEED_START_TS, seedPoints, seedValue, type SeedPlan } from './platform-seed.js';
import { TELEMETRY_KEYS } from './scenario-ingest.js';
import { monotonicMs, type ScenarioOutcome } from './scenario.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const BUCKETS = HOUR_MS / MINUTE_MS;
const POINTS_PER_BUCKET = MINUTE_MS / SEED_SPACING_MS;
const AVG_RUNS = 5;
/** Seeding progress is printed this often. */
const PROGRESS_INTERVAL_MS = 10_000;
/** Relative tolerance for AVG (a database may divide in another order); COUNT, MIN, MAX and SUM are exact. */
const AVG_TOLERANCE = 1e-9;
/** The slowest seeding rate the timeout allows for, points per second. */
const SLOWEST_SEED_RATE = 10_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** What bucket `b` of key `k` must answer: its 60 values are seedValue(device, k, first + 60b … first + 60b + 59). */
function expectedValue(agg: Aggregation, device: number, k: number, firstIndex: number): number {
  const low = seedValue(device, k, firstIndex);
  const n = POINTS_PER_BUCKET;
  switch (agg) {
    case 'COUNT':
      return n;
    case 'MIN':
      return low;
    case 'MAX':
      return low + n - 1;
    case 'SUM':
      return n * low + (n * (n - 1)) / 2;
    case 'AVG':
      return low + (n - 1) / 2;
  }
}

/** Problems with one aggregate answer: every key present, 60 buckets at the right starts, the right values. */
function checkAnswer(
  answer: Map<string, { ts: number; value: number }[]>,
  query: TelemetryAggregateQuery,
  device: number,
): string[] {
  const errors: string[] = [];
  const firstIndex = (query.startTs - SEED_START_TS) / SEED_SPACING_MS;
  query.keys.forEach((key, k) => {
    const buckets = answer.get(key) ?? [];
    if (buckets.length !== BUCKETS) {
      errors.push(`${query.agg} "${key}": ${buckets.length} buckets, expected ${BUCKETS}`);
      return;
    }
    buckets.forEach((bucket, b) => {
      const ts = query.startTs + b * MINUTE_MS;
      const expected = expectedValue(query.agg, device, k, firstIndex + b * POINTS_PER_BUCKET);
      const tolerance = query.agg === 'AVG' ? AVG_TOLERANCE * Math.abs(expected) : 0;
      if (bucket.ts !== ts || typeof bucket.value !== 'number' || Math.abs(bucket.value - expected) > tolerance) {
        errors.push(
          `${query.agg} "${key}" bucket ${b}: ${JSON.stringify(bucket)}, expected {"ts":${ts},"value":${expected}}`,
        );
      }
    });
  });
  return errors.slice(0, 5);
}

/** Creates the organization and devices, then seeds; returns the device ids and the seeding time. */
async function seed(
  context: PlatformContext,
  store: PlatformStore,
  plan: SeedPlan,
): Promise<{ ids: string[]; ms: number }> {
  const entities = new EntityService(store, { zoneHierarchy: ['building', 'level', 'area'] });
  const org = await entities.createOrganization({ name: `${context.tag}-org` });
  const ids: string[] = [];
  for (let d = 0; d < plan.deviceCount; d++) {
    ids.push((await entities.createDevice(org.id, { name: `${context.tag}-${d}` })).device.id);
  }
  const startedMs = monotonicMs();
  let lastLogMs = startedMs;
  await seedPoints(store, ids, plan, context.signal, (written) => {
    const now = monotonicMs();
    if (now - lastLogMs < PROGRESS_INTERVAL_MS) return;
    lastLogMs = now;
    const rate = written / ((now - startedMs) / 1000);
    context.log(
      `    seeded ${written.toLocaleString('en-US')} of ${plan.totalPoints.toLocaleString('en-US')} points ` +
        `(${Math.round((100 * written) / plan.totalPoints)}%, ${Math.round(rate).toLocaleString('en-US')}/s)`,
    );
  });
  return { ids, ms: monotonicMs() - startedMs };
}

async function run(context: PlatformContext): Promise<ScenarioOutcome> {
  const plan = planSeed(context.options.points, TELEMETRY_KEYS);
  const store = await context.database.openStore();
  let isClosed = false;
  const close = async (): Promise<void> => {
    if (isClosed) return;
    isClosed = true;
    await store.close();
  };
  // Also after a timeout, before the database is dropped.
  context.onCleanup(close);
  try {
    context.log(
      `    seeding ${plan.totalPoints.toLocaleString('en-US')} points: ${plan.deviceCount} devices × ` +
        `${plan.keys.length} keys × ${plan.pointsPerSeries.toLocaleString('en-US')} at 1 s spacing …`,
    );
    const seeded = await seed(context, store, plan);
    const seedRate = plan.totalPoints / (seeded.ms / 1000);
    context.log(
      `    seeded in ${(seeded.ms / 1000).toFixed(1)} s (${Math.round(seedRate).toLocaleString('en-US')} points/s)`,
    );

    // The middle device, and an hour in the middle of its series (minute-aligned): not the index's cheap edges.
    const device = Math.floor(plan.deviceCount / 2);
    const seriesMs = plan.pointsPerSeries * SEED_SPACING_MS;
    const startTs = SEED_START_TS + Math.max(0, Math.floor((seriesMs - HOUR_MS) / 2 / MINUTE_MS)) * MINUTE_MS;
    const base = { deviceId: seeded.ids[device]!, keys: [...plan.keys], startTs, endTs: startTs + HOUR_MS };
    const errors: string[] = [];
    const timed = async (agg: Aggregation): Promise<number> => {
      const query: TelemetryAggregateQuery = { ...base, intervalMs: MINUTE_MS, agg };
      const started = monotonicMs();
      const answer = await store.telemetryAggregate(query);
      const elapsed = monotonicMs() - started;
      for (const error of checkAnswer(answer, query, device)) if (!errors.includes(error)) errors.push(error);
      return elapsed;
    };
    const avgRuns: number[] = [];
    for (let run = 0; run < AVG_RUNS; run++) avgRuns.push(await timed('AVG'));
    const metrics: Record<string, number> = { avg: median(avgRuns) };
    for (const agg of ['MIN', 'MAX', 'SUM', 'COUNT'] as const) metrics[agg.toLowerCase()] = await timed(agg);
    metrics['seedRate'] = seedRate;
    metrics['seedSeconds'] = seeded.ms / 1000;
    metrics['points'] = plan.totalPoints;
    return {
      status: errors.length === 0 ? 'ok' : 'failed',
      metrics,
      brokerCpuPercent: undefined,
      loadCpuPercent: undefined,
      errors,
      details: { store: context.database.description, plan, query: base, avgRunsMs: avgRuns },
    };
  } finally {
    await close();
  }
}

export const aggregateQuery: PlatformScenario = {
  id: 'h',
  title: '1-hour aggregate',
  metrics: [
    { key: 'avg', label: 'AVG 1 h / 1 min, median of 5, ms', isHigherBetter: false, decimals: 2 },
    { key: 'min', label: 'MIN, ms', isHigherBetter: false, decimals: 2 },
    { key: 'max', label: 'MAX, ms', isHigherBetter: false, decimals: 2 },
    { key: 'sum', label: 'SUM, ms', isHigherBetter: false, decimals: 2 },
    { key: 'count', label: 'COUNT, ms', isHigherBetter: false, decimals: 2 },
    { key: 'seedRate', label: 'seeding, points/s', isHigherBetter: true, decimals: 0 },
    { key: 'seedSeconds', label: 'seeding, s', isHigherBetter: false, decimals: 1 },
    { key: 'points', label: 'points in the store', isHigherBetter: true, decimals: 0 },
  ],
  timeoutMs: (options: BenchOptions) => 120_000 + (options.points / SLOWEST_SEED_RATE) * 1000,
  run,
};
