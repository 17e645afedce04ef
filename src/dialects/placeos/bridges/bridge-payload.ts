/**
 * What a bridge publishes for one feed entry: the target topic (the bridge's prefix, then the feed topic) and the
 * payload in the organization's feed format (device-apis.md §1.2), after the bridge's own privacy filter.
 */
import type { FeedEntry, FeedSettings, PrivacyFilter } from '../feed-types.js';

/** The organization's format choices a bridge follows; the document's defaults when the organization has none. */
export type PayloadFormat = Pick<FeedSettings, 'timeUnit' | 'valueEncoding'>;

/** The source document's format: epoch milliseconds, value as a serialized JSON string. */
export const DEFAULT_PAYLOAD_FORMAT: PayloadFormat = { timeUnit: 'ms', valueEncoding: 'string' };

const EMPTY = Buffer.alloc(0);

/**
 * The topic on the target: `<prefix>/<feed topic>`. A prefix that already ends with `/` is not given another; an
 * empty prefix leaves the feed topic as it is.
 */
export function targetTopic(prefix: string, feedTopic: string): string {
  if (prefix === '') return feedTopic;
  return prefix.endsWith('/') ? prefix + feedTopic : `${prefix}/${feedTopic}`;
}

/**
 * The payload for `entry`, or undefined when the filter drops it. A state removal is the empty retained payload; a
 * metadata removal is `{"time", "value": null}` (PlaceOS's own publisher does both). Removals are not filtered: they
 * carry no value.
 */
export function formatPayload(entry: FeedEntry, format: PayloadFormat, filter: PrivacyFilter): Buffer | undefined {
  const time = format.timeUnit === 's' ? Math.floor(entry.timeMs / 1000) : entry.timeMs;
  if (entry.valueJson === null) {
    return entry.kind === 'state' ? EMPTY : Buffer.from(`{"time":${String(time)},"value":null}`);
  }
  const filtered = filter.apply(entry.valueJson);
  if (filtered === undefined) return undefined;
  const value = format.valueEncoding === 'raw' ? filtered : JSON.stringify(filtered);
  return Buffer.from(`{"time":${String(time)},"value":${value}}`);
}
