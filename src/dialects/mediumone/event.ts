/**
 * The Medium One event payload (device-apis.md §4.3): `{"event_data": {...}, "observed_at"?: ISO-8601 with zone,
 * "stream"?: name}`, at most 64 KB. A valid event becomes one platform event (stream default `raw`, `at` epoch ms,
 * `atText` the `observed_at` string as sent) and one telemetry point per leaf of `event_data` (key = dotted path).
 */
import type { JsonValue, TelemetryPoint } from '../../platform/model.js';
import { isValidIdentifier } from './topics.js';
import { parseIsoTimestamp } from './timestamp.js';

/** The stream an event without `stream` goes to. */
export const DEFAULT_STREAM = 'raw';

/** Objects nested deeper than this inside `event_data` are refused (bounds the flattening). */
export const MAX_EVENT_DEPTH = 32;

/** Why an event was refused (both are MQTT 5 PUBACK 0x99; over HTTP `tooLarge` is 413, `invalid` 400). */
export type EventRefusal = { kind: 'tooLarge' | 'invalid'; reason: string };

/** A validated event, before the device id is added. */
export interface ParsedEvent {
  eventData: { [key: string]: JsonValue };
  stream: string;
  /** epoch ms of `observed_at`, or of the receive time when it is absent. */
  at: number;
  /** `observed_at` exactly as sent; null when absent. */
  atText: string | null;
  /** `"add_client_ip": true` (REST only, [M1-CRUD]): the uploader's address is added as `ip_address`. */
  isClientIpRequested: boolean;
}

export type EventParse = { ok: true; event: ParsedEvent } | { ok: false; refusal: EventRefusal };

function refuse(kind: EventRefusal['kind'], reason: string): EventParse {
  return { ok: false, refusal: { kind, reason } };
}

function isObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates one event. `payload` is the MQTT payload or one line of a REST upload; `receivedAtMs` stands in for a
 * missing `observed_at`.
 */
export function parseEvent(payload: Buffer | string, receivedAtMs: number, maxEventBytes: number): EventParse {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxEventBytes) {
    return refuse('tooLarge', `event of ${size} bytes is larger than the limit of ${maxEventBytes} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return refuse('invalid', 'event is not valid JSON');
  }
  if (!isObject(json)) return refuse('invalid', 'event is not a JSON object');
  const eventData = json['event_data'];
  if (eventData === undefined) return refuse('invalid', 'event has no "event_data"');
  if (!isObject(eventData)) return refuse('invalid', '"event_data" is not a JSON object');
  if (depthExceeds(eventData, MAX_EVENT_DEPTH)) {
    return refuse('invalid', `"event_data" is nested deeper than ${MAX_EVENT_DEPTH} levels`);
  }
  let at = receivedAtMs;
  let atText: string | null = null;
  const observedAt = json['observed_at'];
  if (observedAt !== undefined && observedAt !== null) {
    if (typeof observedAt !== 'string') return refuse('invalid', '"observed_at" is not a string');
    const parsed = parseIsoTimestamp(observedAt);
    if (!parsed.ok) return refuse('invalid', `"observed_at" ${JSON.stringify(observedAt)} ${parsed.reason}`);
    at = parsed.ms;
    atText = observedAt;
  }
  let stream = DEFAULT_STREAM;
  const streamField = json['stream'];
  if (streamField !== undefined && streamField !== null) {
    if (typeof streamField !== 'string' || !isValidIdentifier(streamField)) {
      return refuse('invalid', "\"stream\" is not a valid stream name (printable ASCII without '#', '+', '/')");
    }
    stream = streamField;
  }
  return { ok: true, event: { eventData, stream, at, atText, isClientIpRequested: json['add_client_ip'] === true } };
}

/** Iterative, so a deeply nested document cannot exhaust the stack before it is refused. */
function depthExceeds(root: JsonValue, maxDepth: number): boolean {
  const stack: { value: JsonValue; depth: number }[] = [{ value: root, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (depth > maxDepth) return true;
    if (typeof value !== 'object' || value === null) continue;
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}

/**
 * One telemetry point per leaf of `eventData`: nested objects are walked (`{"a":{"b":1}}` → key `a.b`), arrays are
 * values (JSON kept), `null` and empty objects produce no point (the platform stores no null value; the event keeps
 * them).
 */
export function eventTelemetry(eventData: { [key: string]: JsonValue }, ts: number): TelemetryPoint[] {
  const points: TelemetryPoint[] = [];
  const walk = (object: { [key: string]: JsonValue }, prefix: string): void => {
    for (const key of Object.keys(object)) {
      const value = object[key]!;
      const path = prefix.length === 0 ? key : `${prefix}.${key}`;
      if (value === null) continue;
      if (isObject(value)) walk(value, path);
      else points.push({ key: path, ts, value: value });
    }
  };
  walk(eventData, '');
  return points;
}
