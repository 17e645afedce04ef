/**
 * Who sees a private record (`is_priv: true`, docs/cloudplugs.md "Private records"), in one place for the HTTP reads
 * and the live MQTT delivery. A private record is its owner's: the device it is on behalf of (`of`, else the
 * publisher), the device that published it, and the organization's accounts and users. Another device never sees it,
 * whatever its permission filter lets it read; the rule narrows reading, it never widens it (a reader must also be
 * allowed to read the owner at all).
 */
import type { JsonValue } from '../../platform/model.js';

/** Whose a private record is: the device it belongs to and the device that published it (null: an account did). */
export interface PrivateOwners {
  ownerDeviceId: string;
  publisherDeviceId: string | null;
}

/** Someone reading records: a device, or an account / platform user of the records' organization. */
export type RecordReader = { kind: 'device'; deviceId: string } | { kind: 'organization' };

/** An account or a platform user (the caller has checked that the organization is the records'). */
export const ORGANIZATION_READER: RecordReader = { kind: 'organization' };

/** May `reader`, already allowed to read the owner's records, see this private one? */
export function maySeePrivate(reader: RecordReader, owners: PrivateOwners): boolean {
  if (reader.kind === 'organization') return true;
  return reader.deviceId === owners.ownerDeviceId || reader.deviceId === owners.publisherDeviceId;
}

/**
 * Owners of the private payloads this process published, keyed by the payload Buffer itself: the broker hands the
 * same Buffer to every subscriber's guard while it routes (options.ts `GuardedMessage.payload`). Weak, so an entry
 * lives as long as the message does; a Buffer is made per record, so entries cannot cross servers in one process.
 */
const owners = new WeakMap<Buffer, PrivateOwners>();

/** What a private record's payload ends with: `JSON.stringify` writes `is_priv` last, after `data`. */
const PRIVATE_TAIL = Buffer.from(',"is_priv":true}');

/**
 * `{"id","data","at","is_priv":true}`: the delivered form of a private record. The flag tells the receiver why
 * others did not get it, and lets the guard recognise the payload even without the in-memory mark.
 */
export function privatePayload(record: { id: string; data: JsonValue; at: number }, of: PrivateOwners): Buffer {
  const payload = Buffer.from(JSON.stringify({ id: record.id, data: record.data, at: record.at, is_priv: true }));
  owners.set(payload, of);
  return payload;
}

/**
 * The owners of a delivered payload if it is a private record, else undefined. The tail is checked first (16 bytes,
 * no allocation: this runs per guarded subscriber of every record); a private payload without the mark (not this
 * process's Buffer) falls back to the topic's device alone: fewer readers, never more.
 */
export function privateOwnersOf(payload: Buffer, topicDeviceId: string): PrivateOwners | undefined {
  const tail = PRIVATE_TAIL.length;
  if (payload.length < tail || payload.compare(PRIVATE_TAIL, 0, tail, payload.length - tail) !== 0) return undefined;
  return owners.get(payload) ?? { ownerDeviceId: topicDeviceId, publisherDeviceId: null };
}
