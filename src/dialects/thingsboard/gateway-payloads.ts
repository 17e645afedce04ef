/**
 * The JSON payloads of the gateway API (device-apis.md §3.8), read as ThingsBoard's `GatewaySessionHandler` reads
 * them, with the telemetry and attribute typing rules of the core dialect (json-telemetry.ts). Every function throws
 * `PayloadError` (→ PUBACK 0x99) for a payload of the wrong shape.
 */
import type { DataValue, JsonValue, TelemetryPoint } from '../../platform/model.js';
import {
  isJsonObject,
  parseJsonPayload,
  PayloadError,
  toAttributeValues,
  toTelemetryPoints,
  type JsonObject,
  type TypingOptions,
} from './json-telemetry.js';

/** The payload as a JSON object; anything else is a payload error. */
export function parseJsonObject(payload: Buffer): JsonObject {
  const json = parseJsonPayload(payload);
  if (!isJsonObject(json)) throw new PayloadError('a gateway message must be a JSON object');
  return json;
}

/** `"device"`: the child's name, a non-empty string. */
export function parseDeviceName(json: JsonObject): string {
  const name = json['device'];
  if (typeof name !== 'string' || name.trim() === '') throw new PayloadError('"device" must be a device name');
  return name;
}

/**
 * `{"Dev A":[{"ts","values"} | {…flat…}, …], …}` (ThingsBoard's `convertToGatewayTelemetry`). An entry may carry
 * `"metadata":{"connector","receivedTs","publishedTs"}` (all three required when present; not stored). Device
 * entries that are not arrays are skipped (`onSkipped`); a message left with none is a payload error.
 */
export function parseGatewayTelemetry(
  json: JsonObject,
  nowMs: number,
  typing: TypingOptions,
  onSkipped: (name: string) => void,
): { name: string; points: TelemetryPoint[] }[] {
  const out: { name: string; points: TelemetryPoint[] }[] = [];
  let names = 0;
  for (const name in json) {
    names++;
    const entries = json[name]!;
    if (!Array.isArray(entries)) {
      onSkipped(name);
      continue;
    }
    const stripped: JsonValue[] = [];
    for (const entry of entries) {
      if (!isJsonObject(entry)) throw new PayloadError(`telemetry of "${name}" must be an array of objects`);
      stripped.push(withoutMetadata(entry, name));
    }
    out.push({ name, points: toTelemetryPoints(stripped, nowMs, typing) });
  }
  if (names > 0 && out.length === 0) throw new PayloadError('no device entry of the gateway telemetry is an array');
  return out;
}

/** The entry without its `metadata`, which is checked: ThingsBoard requires all three fields when it is present. */
function withoutMetadata(entry: JsonObject, name: string): JsonObject {
  if (!('metadata' in entry)) return entry;
  const metadata = entry['metadata'];
  if (
    !isJsonObject(metadata) ||
    typeof metadata['connector'] !== 'string' ||
    typeof metadata['receivedTs'] !== 'number' ||
    typeof metadata['publishedTs'] !== 'number'
  ) {
    throw new PayloadError(`the metadata of "${name}" needs connector, receivedTs and publishedTs`);
  }
  const rest: JsonObject = {};
  for (const key in entry) if (key !== 'metadata') rest[key] = entry[key]!;
  return rest;
}

/** `{"Dev A":{…}, …}`: entries that are not objects are skipped (`onSkipped`), as in ThingsBoard. */
export function parseGatewayAttributes(
  json: JsonObject,
  typing: TypingOptions,
  onSkipped: (name: string) => void,
): { name: string; values: Record<string, DataValue> }[] {
  const out: { name: string; values: Record<string, DataValue> }[] = [];
  for (const name in json) {
    const entry = json[name]!;
    if (!isJsonObject(entry)) {
      onSkipped(name);
      continue;
    }
    out.push({ name, values: toAttributeValues(entry, typing) });
  }
  return out;
}

/**
 * `{"id":<int>,"device","client":<bool>,"key":"k"}` or `"keys":["k1",…]` — the form ThingsBoard's code reads
 * (device-apis.md §3.8 DOC≠CODE: the documented `"client":[keys]` form is refused there and here).
 */
export function parseAttributeRequest(json: JsonObject): {
  id: number;
  name: string;
  isClient: boolean;
  keys: string[];
} {
  const id = json['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new PayloadError('"id" must be an integer');
  const name = parseDeviceName(json);
  const isClient = json['client'];
  if (typeof isClient !== 'boolean') throw new PayloadError('"client" must be true or false');
  const key = json['key'];
  if (key !== undefined) {
    if (typeof key !== 'string') throw new PayloadError('"key" must be a string');
    return { id, name, isClient, keys: [key] };
  }
  const keys = json['keys'];
  if (!Array.isArray(keys) || !keys.every((k): k is string => typeof k === 'string')) {
    throw new PayloadError('"key" (a string) or "keys" (an array of strings) is required');
  }
  return { id, name, isClient, keys: [...new Set(keys)] };
}

/** `{"device","id":<int>,"data":…}`: a child's reply to a server-side RPC; `data` is the reply as is. */
export function parseRpcReply(json: JsonObject): { name: string; id: number; data: JsonValue } {
  const name = parseDeviceName(json);
  const id = json['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new PayloadError('"id" must be an integer');
  if (!('data' in json)) throw new PayloadError('"data" is required');
  return { name, id, data: json['data']! };
}

/** `{"Dev A":{"secretKey","durationMs"}, …}`; both fields optional (ThingsBoard's `onDeviceClaimJson`). */
export function parseClaims(json: JsonObject): { name: string; secretKey: string; durationMs: number | undefined }[] {
  const out: { name: string; secretKey: string; durationMs: number | undefined }[] = [];
  for (const name in json) {
    const entry = json[name]!;
    if (!isJsonObject(entry)) throw new PayloadError(`the claim of "${name}" must be an object`);
    const secretKey = entry['secretKey'] ?? '';
    const durationMs = entry['durationMs'];
    if (typeof secretKey !== 'string') throw new PayloadError('"secretKey" must be a string');
    if (durationMs !== undefined && (typeof durationMs !== 'number' || !Number.isSafeInteger(durationMs))) {
      throw new PayloadError('"durationMs" must be an integer');
    }
    out.push({ name, secretKey, durationMs: durationMs === undefined || durationMs <= 0 ? undefined : durationMs });
  }
  return out;
}
