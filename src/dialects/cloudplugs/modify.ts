/**
 * A data record that names an `id` (device-apis.md §2.3: "id of an existing record, to modify it"). The stored
 * record with that id must be the target device's: then its channel and data are replaced, and its time and expiry
 * when the record carries `at` / `ttl` / `expire_at` (a correction keeps its place in time otherwise). Its telemetry
 * copy is written at the record's time after the change. Once committed, the new version is delivered live like any
 * record, with the same id; a private record keeps its mark, writes no telemetry copy and reaches only its readers
 * (private-records.ts). The check and the change are one statement of the platform's group commit, so a record of
 * another device is never touched, not even briefly.
 */
import type { Logger } from 'pino';
import type { Broker } from '../../broker/index.js';
import type { Platform } from '../../platform/platform.js';
import { EventModificationError } from '../../storage/platform-store.js';
import { PlugErr, PlugError } from './errors.js';
import type { CloudplugsStore } from './module-store.js';
import { privatePayload, type PrivateOwners } from './private-records.js';
import { deliveredPayload, type DataRecord } from './records.js';
import type { PlugDevice } from './registry.js';
import { dataTopic } from './topics.js';

/** What a modification needs of the dialect. */
export interface ModifyContext {
  platform: Platform;
  store: CloudplugsStore;
  broker: () => Broker | undefined;
  logger: Logger;
}

/**
 * Commits the modification `record` (its `isGivenId` set) of `target` on `channel`, then delivers the new version;
 * `done` after both. A refusal is a PlugError: 404 when `target` has no record with that id (another
 * organization's counts as none), 403 when another device of the organization has it.
 */
export function modifyRecord(
  context: ModifyContext,
  target: PlugDevice,
  channel: string,
  record: DataRecord,
  deliveryQos: 0 | 1,
  done: (error: Error | undefined) => void,
): void {
  // The private mark is fixed when a record is created (written before it, never changed: `is_priv` in a
  // modification is refused), so reading it first cannot race the modification.
  context.store.privateAmong([record.id]).then(
    (marks) => {
      const owners = marks.has(record.id)
        ? { ownerDeviceId: target.device.id, publisherDeviceId: marks.get(record.id) ?? null }
        : undefined;
      commit(context, target, channel, record, owners, deliveryQos, done);
    },
    (error: unknown) => {
      done(error instanceof Error ? error : new Error(String(error)));
    },
  );
}

/** `owners` is set for a private record: no telemetry copy (data.ts), and delivered to its readers only. */
function commit(
  context: ModifyContext,
  target: PlugDevice,
  channel: string,
  record: DataRecord,
  owners: PrivateOwners | undefined,
  deliveryQos: 0 | 1,
  done: (error: Error | undefined) => void,
): void {
  const modification = {
    id: record.id,
    stream: channel,
    data: record.data,
    at: record.isAtGiven ? { ms: record.at, text: record.atText } : undefined,
    expiresAt: record.isExpiryGiven ? record.expiresAt : undefined,
    telemetryKey: owners === undefined ? channel : undefined,
  };
  const { platform, logger } = context;
  platform.modifyEvent(target.device, modification, (error, event) => {
    if (error !== undefined || event === undefined) {
      const refusal = asPlugError(error ?? new Error('the modification was not stored'), target);
      if (refusal instanceof PlugError) {
        logger.info({ plugId: target.row.plugId, recordId: record.id, err: refusal.err }, refusal.message);
      }
      done(refusal);
      return;
    }
    const broker = context.broker();
    if (broker !== undefined) {
      const topicName = dataTopic(target.row.plugId, event.stream);
      const message = { topicName, qos: deliveryQos, isRetained: false, properties: undefined };
      if (owners === undefined) broker.publish({ ...message, payload: deliveredPayload(event) });
      else broker.publish({ ...message, payload: privatePayload(event, owners) }, { guardedOnly: true });
    }
    done(undefined);
  });
}

function asPlugError(error: Error, target: PlugDevice): Error {
  if (!(error instanceof EventModificationError)) return error;
  return error.code === 'EVENT_NOT_FOUND'
    ? new PlugError(PlugErr.NotFound, `${target.row.plugId} has no record ${error.eventId} to modify`, {
        cause: error,
      })
    : new PlugError(PlugErr.Forbidden, `record ${error.eventId} belongs to another device`, { cause: error });
}
