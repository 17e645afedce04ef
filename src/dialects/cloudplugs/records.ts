/**
 * Data records (device-apis.md §2.3): what a device publishes on `<plug-id>/data/<channel>` or `PUT /iot/data/…`,
 * `{id?, data, at?, of?, ttl?, expire_at?, is_priv?}` (plus `channel` over HTTP), and what subscribers and readers get
 * back, `{id, data, at}` (plus `of`, `channel` where the reader needs them).
 */
import type { JsonValue } from '../../platform/model.js';
import { isDevicePlugId, isOid, newOid } from './plug-id.js';
import { channelProblem } from './topics.js';

/** A record as the dialect stores it: id assigned, times resolved. */
export interface DataRecord {
  id: string;
  data: JsonValue;
  /** Epoch ms. */
  at: number;
  /** The original `at` text when it was an ISO date with more than ms precision or a zone; else null. */
  atText: string | null;
  /** Epoch ms after which the record is deleted; null = the organization's retention. */
  expiresAt: number | null;
  /** The Plug-ID the record is published on behalf of (undefined = the publisher itself). */
  of: string | undefined;
  /** HTTP only: the channel named in the body, overriding the URL's. */
  channel: string | undefined;
  isPrivate: boolean;
  /** The publisher named an `id`: the record modifies the stored record with that id (modify.ts). */
  isGivenId: boolean;
  /** `at` was in the record (a modification without it keeps the stored time). */
  isAtGiven: boolean;
  /** `ttl` or `expire_at` was in the record (a modification without them keeps the stored expiry). */
  isExpiryGiven: boolean;
}

/** A record the dialect refuses; `message` says why, as the CloudPlugs client will see it. */
export class RecordError extends Error {
  override readonly name = 'RecordError';
}

/** Longest `ttl` accepted: 100 years in seconds (a bound so `at + ttl` stays a safe integer). */
const MAX_TTL_SECONDS = 3_153_600_000;

const ALLOWED_FIELDS = new Set(['id', 'data', 'at', 'of', 'ttl', 'expire_at', 'is_priv', 'channel']);

/** Parses one record object; `nowMs` is the receive time (default `at`, base of `ttl`). */
export function parseRecord(input: unknown, nowMs: number): DataRecord {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RecordError('a data record is a JSON object {"data": …}');
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!ALLOWED_FIELDS.has(key)) throw new RecordError(`unknown field ${JSON.stringify(key)} in a data record`);
  }
  if (!('data' in record)) throw new RecordError('a data record needs "data"');
  const id = record['id'];
  if (id !== undefined && (typeof id !== 'string' || !isOid(id))) {
    throw new RecordError('"id" is an OID (24 hex characters)');
  }
  const at = record['at'] === undefined ? { ms: nowMs, text: null } : parseTimestamp(record['at'], 'at');
  const of = record['of'];
  if (of !== undefined && (typeof of !== 'string' || !isDevicePlugId(of))) {
    throw new RecordError('"of" is a device Plug-ID (dev- and 24 hex characters)');
  }
  const channel = record['channel'];
  if (channel !== undefined) {
    if (typeof channel !== 'string') throw new RecordError('"channel" is a string');
    const problem = channelProblem(channel, false);
    if (problem !== undefined) throw new RecordError(problem);
  }
  const isPrivate = record['is_priv'];
  if (isPrivate !== undefined && typeof isPrivate !== 'boolean') throw new RecordError('"is_priv" is a boolean');
  // Privacy is a mark beside the record, set when it is created; changing it with the record would not be atomic.
  if (id !== undefined && isPrivate !== undefined) {
    throw new RecordError('"is_priv" is set when a record is created; a modification ("id") keeps it');
  }
  return {
    id: id ?? newOid(nowMs),
    data: record['data'] as JsonValue,
    at: at.ms,
    atText: at.text,
    expiresAt: expiryOf(record, nowMs),
    of,
    channel,
    isPrivate: isPrivate ?? false,
    isGivenId: id !== undefined,
    isAtGiven: record['at'] !== undefined,
    isExpiryGiven: record['expire_at'] !== undefined || record['ttl'] !== undefined,
  };
}

/** `expire_at` wins over `ttl` (seconds from now). */
function expiryOf(record: Record<string, unknown>, nowMs: number): number | null {
  if (record['expire_at'] !== undefined) return parseTimestamp(record['expire_at'], 'expire_at').ms;
  const ttl = record['ttl'];
  if (ttl === undefined) return null;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_TTL_SECONDS) {
    throw new RecordError(`"ttl" is a positive number of seconds up to ${String(MAX_TTL_SECONDS)}`);
  }
  return nowMs + Math.round(ttl * 1000);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const DIGITS = /^-?\d+$/;
/** Year 1970 to 9999 in ms: numbers outside are not timestamps anyone means. */
const MAX_TIMESTAMP_MS = 253_402_300_799_999;

/**
 * A CloudPlugs TIMESTAMP: an ISO date string, or a number / numeric string of ms since the epoch. The original text of
 * an ISO date is kept (`text`) so its precision survives.
 */
export function parseTimestamp(value: unknown, field: string): { ms: number; text: string | null } {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= MAX_TIMESTAMP_MS) return { ms: value, text: null };
  } else if (typeof value === 'string') {
    if (DIGITS.test(value)) return parseTimestamp(Number(value), field);
    if (ISO_DATE.test(value)) {
      const ms = Date.parse(value);
      if (Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIMESTAMP_MS) return { ms, text: value };
    }
  }
  throw new RecordError(`"${field}" is an ISO date or a number of ms since 1970`);
}

/**
 * A publish body: one record or, over HTTP, an array of records. Throws RecordError.
 */
export function parseRecords(payload: Buffer | string, nowMs: number, allowArray: boolean): DataRecord[] {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new RecordError(`the payload is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (Array.isArray(parsed)) {
    if (!allowArray) throw new RecordError('an MQTT data message carries one record');
    if (parsed.length === 0) throw new RecordError('the array of records is empty');
    return parsed.map((item) => parseRecord(item, nowMs));
  }
  return [parseRecord(parsed, nowMs)];
}

/** The payload delivered to subscribers and answered to readers. */
export interface DeliveredRecord {
  id: string;
  data: JsonValue;
  at: number;
}

/** `{"id","data","at"}` as UTF-8 JSON: what every subscriber of the channel receives. */
export function deliveredPayload(record: Pick<DataRecord, 'id' | 'data' | 'at'>): Buffer {
  const delivered: DeliveredRecord = { id: record.id, data: record.data, at: record.at };
  return Buffer.from(JSON.stringify(delivered));
}
