/**
 * Scenario h's data: `--points` telemetry points written straight through the store's `write` in large batches
 * (seeding, not the measured part). Devices × 5 keys series at 1 s spacing from a fixed, minute-aligned start, each
 * value a known function of (device, key, index), so an aggregate over any window can be checked exactly.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { TelemetryPoint } from '../src/platform/model.js';
import type { PlatformStore } from '../src/storage/platform-store.js';

/** At most this many devices share the points (10 × 5 keys × 200,000 = 10 million). */
const MAX_DEVICES = 10;
/** Series long enough for a 1-hour window at 1 s spacing. */
const MIN_SERIES_POINTS = 3_600;
export const SEED_SPACING_MS = 1_000;
/** 2024-01-01T00:00:00Z: minute-aligned, so 1-minute buckets from a window start hold exactly 60 points. */
export const SEED_START_TS = Date.UTC(2024, 0, 1);
/** Timestamps per write (× keys points): large enough that per-transaction cost vanishes, small enough for memory. */
const BATCH_TIMESTAMPS = 10_000;

export interface SeedPlan {
  keys: readonly string[];
  deviceCount: number;
  /** Points per (device, key) series. */
  pointsPerSeries: number;
  totalPoints: number;
}

/** Splits `points` over up to 10 devices, each series at least an hour long; rounds down to whole series. */
export function planSeed(points: number, keys: readonly string[]): SeedPlan {
  const deviceCount = Math.max(1, Math.min(MAX_DEVICES, Math.floor(points / (keys.length * MIN_SERIES_POINTS))));
  const pointsPerSeries = Math.max(MIN_SERIES_POINTS, Math.floor(points / (deviceCount * keys.length)));
  return { keys, deviceCount, pointsPerSeries, totalPoints: pointsPerSeries * deviceCount * keys.length };
}

/** Point `index` of device `device`, key `k`: distinct per series, and exact in binary (the sums check exactly). */
export function seedValue(device: number, k: number, index: number): number {
  return device * 1_000_000_000 + index + k * 0.25;
}

/**
 * Writes the plan's points for `deviceIds`, one device and `BATCH_TIMESTAMPS` timestamps per transaction, devices
 * interleaved (as live devices would write). Yields to the event loop between batches so timeouts and signals are
 * handled even though the SQLite store answers synchronously. `onProgress` gets the points written so far.
 */
export async function seedPoints(
  store: PlatformStore,
  deviceIds: readonly string[],
  plan: SeedPlan,
  signal: AbortSignal,
  onProgress: (written: number) => void,
): Promise<void> {
  let written = 0;
  for (let from = 0; from < plan.pointsPerSeries; from += BATCH_TIMESTAMPS) {
    const to = Math.min(from + BATCH_TIMESTAMPS, plan.pointsPerSeries);
    for (const [device, deviceId] of deviceIds.entries()) {
      signal.throwIfAborted();
      const points: TelemetryPoint[] = [];
      for (let index = from; index < to; index++) {
        const ts = SEED_START_TS + index * SEED_SPACING_MS;
        plan.keys.forEach((key, k) => points.push({ key, ts, value: seedValue(device, k, index) }));
      }
      await store.write({ telemetry: [{ deviceId, points }], attributes: [], attributeDeletes: [], events: [] });
      written += points.length;
      onProgress(written);
      await yieldToEventLoop();
    }
  }
}
