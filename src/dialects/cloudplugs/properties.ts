/**
 * Additional properties (device-apis.md §2.2): static values, or `{"channel": name}` links that read as the last value
 * published on that channel of the device. Set with `<plug-id>/ag/prop/set` `{"<prop>": value, …}` or
 * `PATCH /iot/device/<plug-id>` `{"props": …}`; read with `<plug-id>/ag/prop/get` (empty payload: all; `["a", "b"]`:
 * those) or `GET /iot/device/<plug-id>/<prop>`.
 */
import type { JsonValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { PlugErr, PlugError } from './errors.js';
import type { CloudplugsStore, PlugProperty } from './module-store.js';
import type { PlugDevice } from './registry.js';
import { channelProblem } from './topics.js';

/** Bounds: properties per device and the length of a property name. */
export const MAX_PROPERTIES_PER_DEVICE = 256;
/** Longest property name. */
export const MAX_PROPERTY_NAME_BYTES = 200;

/** Parses a property map; `{"channel": "<name>"}` (exactly that one member) is a link. Throws PlugError 400. */
export function parseProperties(input: unknown): Map<string, PlugProperty> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new PlugError(PlugErr.BadRequest, 'properties are a JSON object {"<name>": value}');
  }
  const properties = new Map<string, PlugProperty>();
  for (const [name, value] of Object.entries(input as Record<string, JsonValue>)) {
    if (name === '' || Buffer.byteLength(name) > MAX_PROPERTY_NAME_BYTES) {
      throw new PlugError(PlugErr.BadRequest, `a property name is 1 to ${String(MAX_PROPERTY_NAME_BYTES)} bytes`);
    }
    if (name === 'location') throw new PlugError(PlugErr.BadRequest, '"location" is set with PATCH …/location');
    properties.set(name, asProperty(value));
  }
  if (properties.size > MAX_PROPERTIES_PER_DEVICE) {
    throw new PlugError(PlugErr.BadRequest, `at most ${String(MAX_PROPERTIES_PER_DEVICE)} properties`);
  }
  return properties;
}

function asProperty(value: JsonValue): PlugProperty {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const channel = value['channel'];
    if (keys.length === 1 && typeof channel === 'string') {
      const problem = channelProblem(channel, false);
      if (problem !== undefined) throw new PlugError(PlugErr.BadRequest, `property link: ${problem}`);
      return { kind: 'channel', channel };
    }
  }
  return { kind: 'value', value };
}

/** Stores properties, refusing a set that would take the device past the bound. */
export async function setProperties(
  store: CloudplugsStore,
  target: PlugDevice,
  properties: ReadonlyMap<string, PlugProperty>,
): Promise<void> {
  const existing = await store.getProperties(target.device.id);
  let total = existing.size;
  for (const name of properties.keys()) if (!existing.has(name)) total++;
  if (total > MAX_PROPERTIES_PER_DEVICE) {
    throw new PlugError(PlugErr.BadRequest, `a device has at most ${String(MAX_PROPERTIES_PER_DEVICE)} properties`);
  }
  await store.setProperties(target.device.id, properties);
}

/** Property names from a get request: an empty payload means all; otherwise a JSON array of names. */
export function parsePropertyNames(payload: Buffer): string[] | undefined {
  if (payload.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw new PlugError(PlugErr.BadRequest, 'the payload is not JSON', { cause: error });
  }
  if (typeof parsed === 'string') return [parsed];
  if (!Array.isArray(parsed) || !parsed.every((name) => typeof name === 'string')) {
    throw new PlugError(PlugErr.BadRequest, 'name the properties as a JSON array of strings');
  }
  return parsed;
}

/** The properties' values, links resolved to the channel's last value (null when nothing was published yet). */
export async function readProperties(
  platform: Platform,
  store: CloudplugsStore,
  target: PlugDevice,
  names: readonly string[] | undefined,
): Promise<Record<string, JsonValue>> {
  const properties = await store.getProperties(target.device.id, names);
  const channels = [...properties.values()].flatMap((p) => (p.kind === 'channel' ? [p.channel] : []));
  const latest =
    channels.length === 0 ? [] : await platform.store.latestTelemetry(target.device.id, [...new Set(channels)]);
  const last = new Map(latest.map((point) => [point.key, point.value]));
  const values: Record<string, JsonValue> = {};
  for (const [name, property] of properties) {
    values[name] = property.kind === 'value' ? property.value : (last.get(property.channel) ?? null);
  }
  return values;
}
