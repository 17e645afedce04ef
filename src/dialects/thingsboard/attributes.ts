/**
 * Attribute requests, responses and shared-attribute updates in ThingsBoard's JSON (device-apis.md §3.3):
 * - request `{"clientKeys":"a,b","sharedKeys":"c"}`, comma-separated strings, both optional; `{}` asks for every client
 *   and shared attribute; with only one of them, only that section is read;
 * - response `{"client":{…},"shared":{…}}`, an empty section omitted, missing keys simply absent;
 * - update `{"k":v,…}` plus `"deleted":["k",…]` when attributes were removed.
 */
import type { AttributeUpdate } from '../../platform/device-links.js';
import type { Attribute, DataValue, JsonValue } from '../../platform/model.js';
import type { PlatformStore } from '../../storage/platform-store.js';
import { isJsonObject, PayloadError, type JsonObject } from './json-telemetry.js';

/** Which attributes a request asks for: undefined = that scope not asked; 'all' = every key of the scope. */
export interface AttributeQuery {
  client: string[] | 'all' | undefined;
  shared: string[] | 'all' | undefined;
}

/** `a,b, c` → ['a','b','c'] (ThingsBoard splits on commas; surrounding spaces are trimmed here). */
export function splitKeyList(text: string): string[] {
  const keys: string[] = [];
  for (const part of text.split(',')) {
    const key = part.trim();
    if (key.length > 0) keys.push(key);
  }
  return keys;
}

/** From the lists a request named (undefined = not named). Neither named = all client and shared attributes. */
export function attributeQuery(clientKeys: string[] | undefined, sharedKeys: string[] | undefined): AttributeQuery {
  if (clientKeys === undefined && sharedKeys === undefined) return { client: 'all', shared: 'all' };
  return { client: clientKeys, shared: sharedKeys };
}

/** The JSON request body; an empty payload counts as `{}`. Throws PayloadError. */
export function parseAttributeRequest(json: JsonValue | undefined): AttributeQuery {
  if (json === undefined) return attributeQuery(undefined, undefined);
  if (!isJsonObject(json)) throw new PayloadError('the attribute request must be a JSON object');
  return attributeQuery(keysField(json, 'clientKeys'), keysField(json, 'sharedKeys'));
}

function keysField(request: JsonObject, name: string): string[] | undefined {
  const value = request[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return splitKeyList(value);
  // ThingsBoard's own SDKs send strings; an array of strings is accepted as the obvious meaning.
  if (Array.isArray(value) && value.every((k) => typeof k === 'string')) return value;
  throw new PayloadError(`"${name}" must be a comma-separated string`);
}

/** The attributes a query selects, read from the store. */
export async function readAttributes(
  store: PlatformStore,
  deviceId: string,
  query: AttributeQuery,
): Promise<{ client: Attribute[]; shared: Attribute[] }> {
  const read = (scope: 'client' | 'shared', keys: string[] | 'all' | undefined): Promise<Attribute[]> => {
    if (keys === undefined || (keys !== 'all' && keys.length === 0)) return Promise.resolve([]);
    return store.getAttributes(deviceId, scope, keys === 'all' ? undefined : keys);
  };
  const [client, shared] = await Promise.all([read('client', query.client), read('shared', query.shared)]);
  return { client, shared };
}

/** `{"client":{…},"shared":{…}}` with empty sections omitted. */
export function attributeResponseJson(client: readonly Attribute[], shared: readonly Attribute[]): JsonObject {
  const response: JsonObject = {};
  if (client.length > 0) response['client'] = toObject(client);
  if (shared.length > 0) response['shared'] = toObject(shared);
  return response;
}

function toObject(attributes: readonly Attribute[]): { [key: string]: DataValue } {
  const out: { [key: string]: DataValue } = {};
  for (const attribute of attributes) out[attribute.key] = attribute.value;
  return out;
}

/** A shared-attribute update as the device receives it. */
export function attributeUpdateJson(update: AttributeUpdate): JsonObject {
  const json: JsonObject = { ...update.values };
  if (update.deleted.length > 0) json['deleted'] = [...update.deleted];
  return json;
}
