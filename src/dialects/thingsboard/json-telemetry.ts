/**
 * ThingsBoard's JSON payloads for telemetry and attributes, with its typing rules (device-apis.md §3.3, from
 * `JsonConverter.parseProtoValues` / `buildNumericKeyValueProto`):
 * - booleans, numbers, strings kept; objects and arrays kept as JSON values;
 * - `null` values silently dropped;
 * - strings that parse as numbers (`NumberUtils.isParsable`: optional `-`, digits, at most one `.`, no exponent) are
 *   cast to numbers when casting is on (default): integers within a signed 64-bit long and decimals with at most 16
 *   fraction digits; beyond that they stay strings;
 * - optional maximum string length (0 = off), as `JSON_MAX_STRING_VALUE_LENGTH`;
 * - telemetry in four shapes: `{k:v}`, `[{k:v},…]`, `{"ts","values"}`, `[{"ts","values"},…]`; an object is
 *   timestamped only when it has both `ts` and `values`.
 * Numbers that arrive as JSON numbers are JavaScript doubles (integers beyond 2^53 lose precision: Node 20's
 * JSON.parse does not expose the source text).
 */
import type { DataValue, JsonValue, TelemetryPoint } from '../../platform/model.js';
import { parseLenientJson } from './lenient-json.js';

/** The payload is not what the topic expects (→ v5 PUBACK 0x99, 3.1.1 disconnect, HTTP 400). */
export class PayloadError extends Error {
  readonly code = 'PAYLOAD_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PayloadError';
  }
}

export interface TypingOptions {
  /** ThingsBoard's `JSON_TYPE_CAST_ENABLED`: numeric strings become numbers. Default true. */
  castNumericStrings: boolean;
  /** ThingsBoard's `JSON_MAX_STRING_VALUE_LENGTH`: longer string values are a payload error; 0 = no limit. */
  maxStringValueLength: number;
}

export const DEFAULT_TYPING_OPTIONS: TypingOptions = { castNumericStrings: true, maxStringValueLength: 0 };

export type JsonObject = { [key: string]: JsonValue };

/**
 * Parses a UTF-8 JSON payload as ThingsBoard does: strict JSON first, then Gson's lenient syntax (lenient-json.ts),
 * which the ThingsBoard document's own shell commands produce. Throws PayloadError.
 */
export function parseJsonPayload(payload: Buffer | string): JsonValue {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    try {
      return parseLenientJson(text);
    } catch {
      throw new PayloadError(`invalid JSON: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }
}

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Telemetry in any of the four shapes → points; `nowMs` stamps the points that carry no `ts`. */
export function toTelemetryPoints(json: JsonValue, nowMs: number, options: TypingOptions): TelemetryPoint[] {
  const points: TelemetryPoint[] = [];
  if (Array.isArray(json)) {
    for (const element of json) {
      if (!isJsonObject(element)) throw new PayloadError('telemetry array elements must be objects');
      addObject(points, element, nowMs, options);
    }
  } else if (isJsonObject(json)) {
    addObject(points, json, nowMs, options);
  } else {
    throw new PayloadError('telemetry must be a JSON object or an array of objects');
  }
  return points;
}

function addObject(points: TelemetryPoint[], object: JsonObject, nowMs: number, options: TypingOptions): void {
  const values = object['values'];
  const tsValue = object['ts'];
  if (tsValue !== undefined && values !== undefined) {
    const ts = toTimestamp(tsValue);
    if (!isJsonObject(values)) throw new PayloadError('"values" must be an object');
    addValues(points, values, ts, options);
    return;
  }
  addValues(points, object, nowMs, options);
}

function addValues(points: TelemetryPoint[], values: JsonObject, ts: number, options: TypingOptions): void {
  for (const key in values) {
    const value = toDataValue(values[key]!, key, options);
    if (value !== undefined) points.push({ key, ts, value });
  }
}

/** ThingsBoard reads `ts` as a long: a JSON integer, or a string holding one. */
function toTimestamp(value: JsonValue): number {
  const ts = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw new PayloadError('"ts" must be an integer (ms)');
  return ts;
}

/** A client-attributes payload (JSON object only; an array is refused, as in ThingsBoard). */
export function toAttributeValues(json: JsonValue, options: TypingOptions): Record<string, DataValue> {
  if (!isJsonObject(json)) throw new PayloadError('attributes must be a JSON object');
  const out: Record<string, DataValue> = {};
  for (const key in json) {
    const value = toDataValue(json[key]!, key, options);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** One value with the typing rules; undefined for `null` (dropped). */
export function toDataValue(value: JsonValue, key: string, options: TypingOptions): DataValue | undefined {
  if (value === null) return undefined;
  if (typeof value !== 'string') return value;
  if (options.maxStringValueLength > 0 && value.length > options.maxStringValueLength) {
    throw new PayloadError(`the value of "${key}" is longer than ${String(options.maxStringValueLength)} characters`);
  }
  return options.castNumericStrings ? castNumericString(value) : value;
}

const LONG_MAX = 9_223_372_036_854_775_807n;
const LONG_MIN = -9_223_372_036_854_775_808n;
const MAX_DOUBLE_SCALE = 16;

/** `"25"` → 25, `"-1.5"` → -1.5; anything else (or out of ThingsBoard's ranges) stays the string. */
export function castNumericString(text: string): DataValue {
  const length = text.length;
  let i = text.charCodeAt(0) === 0x2d ? 1 : 0;
  if (i === length) return text;
  let dot = -1;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (dot >= 0) return text;
      dot = i;
    } else if (c < 0x30 || c > 0x39) {
      return text;
    }
  }
  // isParsable refuses a trailing dot and a lone sign or dot.
  if (dot === length - 1 || (dot >= 0 && length - (text.charCodeAt(0) === 0x2d ? 1 : 0) === 1)) return text;
  if (dot >= 0) return length - dot - 1 <= MAX_DOUBLE_SCALE ? Number(text) : text;
  if (length <= 15) return Number(text); // well inside a long: no BigInt needed
  const big = BigInt(text);
  return big <= LONG_MAX && big >= LONG_MIN ? Number(text) : text;
}
