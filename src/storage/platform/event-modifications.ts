/**
 * The rules of `EventModification` both platform stores share: why a modification that matched no row did not apply,
 * and the telemetry copy written with one that did.
 */
import type { TelemetryPoint } from '../../platform/model.js';
import type { EventModification, ModificationRefusal, WriteOutcome } from '../platform-store.js';

/**
 * `owner` is the stored event with the modification's id (undefined: none). Another organization's event counts as
 * missing, so a device learns nothing about other tenants' ids; another device's in the same organization is refused
 * as such (the caller may say so).
 */
export function refusalOf(owner: { org_id: string } | undefined, orgId: string): ModificationRefusal {
  return owner === undefined || owner.org_id !== orgId ? 'not-found' : 'other-device';
}

/** The telemetry point an applied modification writes (at the event's time after the change), if any. */
export function modificationPoint(
  modification: EventModification,
  result: WriteOutcome['modifications'][number],
): TelemetryPoint | undefined {
  if (modification.telemetryKey === undefined || modification.data === null || !('applied' in result)) {
    return undefined;
  }
  return { key: modification.telemetryKey, ts: result.applied.at, value: modification.data };
}
