/**
 * The feed's payloads (device-apis.md §1.2): `{"time": <ms|s>, "value": <value>}`, where the value is a JSON string
 * holding the serialized value (the source document) or the value itself (PlaceOS's publisher, `valueEncoding: raw`);
 * a removed state topic is an empty retained message, a deleted entity's metadata `{"time": …, "value": null}`.
 * Metadata values are always embedded as objects (`value.name`), as PlaceOS does and the document shows them.
 * Built by concatenation: one string and one Buffer per message, nothing else.
 */
import type { FeedEntry, FeedSettings } from './feed-types.js';

const EMPTY = Buffer.alloc(0);

/** The payload of an entry whose value (already filtered) is `valueJson`; empty for a removed state topic. */
export function feedPayload(
  entry: FeedEntry,
  valueJson: string | null,
  settings: Pick<FeedSettings, 'timeUnit' | 'valueEncoding'>,
): Buffer {
  if (valueJson === null && entry.kind === 'state') return EMPTY;
  // PlaceOS's EpochConverter writes whole seconds (device-apis.md §1.2): truncated, not rounded.
  const time = settings.timeUnit === 's' ? Math.floor(entry.timeMs / 1000) : entry.timeMs;
  const value =
    valueJson === null
      ? 'null'
      : settings.valueEncoding === 'raw' || entry.kind === 'metadata'
        ? valueJson
        : JSON.stringify(valueJson);
  return Buffer.from(`{"time":${String(time)},"value":${value}}`);
}
