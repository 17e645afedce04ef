/**
 * Compact text encoding of v5 properties for the SQLite store: JSON with each `Buffer` (correlation data,
 * authentication data) written as `{ "base64": "..." }`. Every other property value is a number, a string, a number
 * array or a `[name, value]` pair array, so a JSON object at the top level can only be an encoded Buffer, and
 * `userProperties` keeps its order and duplicates ([MQTT-3.3.2-18]).
 */
import type { Properties } from '../mqtt/codec/index.js';

/** Encodes properties as JSON text; `undefined` (no properties, e.g. MQTT 3.1.1) becomes SQL NULL. */
export function encodeProperties(properties: Properties | undefined): string | null {
  if (properties === undefined) return null;
  const encoded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    encoded[key] = Buffer.isBuffer(value) ? { base64: value.toString('base64') } : value;
  }
  return JSON.stringify(encoded);
}

/** Inverse of `encodeProperties`. */
export function decodeProperties(text: string | null): Properties | undefined {
  if (text === null) return undefined;
  const decoded = JSON.parse(text) as Record<string, unknown>;
  for (const [key, value] of Object.entries(decoded)) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      decoded[key] = Buffer.from((value as { base64: string }).base64, 'base64');
    }
  }
  return decoded;
}
