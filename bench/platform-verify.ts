/**
 * Scenario g's end check, on the store itself after the server stopped: every acknowledged point is stored. The
 * count and sum per key come from the store's own aggregate (one bucket spanning all of a device's messages), so
 * the check costs two queries per device whatever the volume, and the sum proves the values, not just the rows.
 */
import type { PlatformStore } from '../src/storage/platform-store.js';
import type { ProvisionedDevice } from './platform-provision.js';

export interface IngestCheck {
  sent: number;
  acknowledgedPoints: number;
  storedPoints: number;
  errors: string[];
}

/** Problems listed per device and key up to this many; the rest are counted. */
const MAX_ERRORS = 10;

/**
 * `counts[i]` is what device `devices[i]` sent and got acknowledged; its message n carried `ts = baseTs + n` and
 * key k the value `n + k/4` (see worker-telemetry.ts). Acknowledged points missing from the store fail the run; so
 * do values that differ from what was sent.
 */
export async function verifyIngested(
  store: PlatformStore,
  devices: readonly ProvisionedDevice[],
  counts: readonly { index: number; sent: number; acked: number }[],
  keys: readonly string[],
  baseTs: number,
): Promise<IngestCheck> {
  const errors: string[] = [];
  let problems = 0;
  const problem = (message: string): void => {
    if (++problems <= MAX_ERRORS) errors.push(message);
  };
  let sent = 0;
  let acknowledgedPoints = 0;
  let storedPoints = 0;
  for (const { index, sent: deviceSent, acked } of counts) {
    const device = devices[index]!;
    sent += deviceSent;
    acknowledgedPoints += acked * keys.length;
    if (deviceSent === 0) continue;
    // One bucket [baseTs, baseTs + sent): everything this device sent.
    const query = {
      deviceId: device.id,
      keys: [...keys],
      startTs: baseTs,
      endTs: baseTs + deviceSent,
      intervalMs: deviceSent,
    };
    const stored = await store.telemetryAggregate({ ...query, agg: 'COUNT' });
    const sums = await store.telemetryAggregate({ ...query, agg: 'SUM' });
    keys.forEach((key, k) => {
      const count = stored.get(key)?.[0]?.value ?? 0;
      storedPoints += count;
      if (count < acked) {
        problem(`${device.name} "${key}": ${count} points stored, ${acked} acknowledged (${acked - count} lost)`);
      } else if (count > deviceSent) {
        problem(`${device.name} "${key}": ${count} points stored, only ${deviceSent} sent`);
      } else if (count === deviceSent) {
        // All of 0..n-1 stored: Σ (m + k/4) = n(n-1)/2 + n·k/4, exact in binary floating point.
        const expected = (deviceSent * (deviceSent - 1)) / 2 + (deviceSent * k) / 4;
        const sum = sums.get(key)?.[0]?.value;
        if (sum !== expected) problem(`${device.name} "${key}": stored values sum to ${sum}, sent ${expected}`);
      }
    });
  }
  if (problems > MAX_ERRORS) errors.push(`… and ${problems - MAX_ERRORS} more`);
  return { sent, acknowledgedPoints, storedPoints, errors };
}
