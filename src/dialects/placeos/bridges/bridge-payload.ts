/**
 * What a bridge publishes for one feed entry: the target topic (the bridge's prefix, then the feed topic) and the
 * payload in the organization's feed format (device-apis.md §1.2), after the bridge's own privacy filter.
 */
import type { FeedEntry, FeedSettings, PrivacyFilter } from '../feed-types.js';
import { feedPayload } from '../payload.js';

/** The organization's format choices a bridge follows; the document's defaults when the organization has none. */
export type PayloadFormat = Pick<FeedSettings, 'timeUnit' | 'valueEncoding'>;

/** The source document's format: epoch milliseconds, value as a serialized JSON string. */
export const DEFAULT_PAYLOAD_FORMAT: PayloadFormat = { timeUnit: 'ms', valueEncoding: 'string' };

/**
 * The topic on the target: `<prefix>/<feed topic>`. A prefix that already ends with `/` is not given another; an
 * empty prefix leaves the feed topic as it is.
 */
export function targetTopic(prefix: string, feedTopic: string): string {
  if (prefix === '') return feedTopic;
  return prefix.endsWith('/') ? prefix + feedTopic : `${prefix}/${feedTopic}`;
}

/**
 * The payload for `entry`, or undefined when the filter drops it: the local feed's own format (payload.ts), so a
 * bridged broker carries exactly what Switchboard's broker does. Removals are not filtered: they carry no value.
 */
export function formatPayload(entry: FeedEntry, format: PayloadFormat, filter: PrivacyFilter): Buffer | undefined {
  if (entry.valueJson === null) return feedPayload(entry, null, format);
  const filtered = filter.apply(entry.valueJson);
  return filtered === undefined ? undefined : feedPayload(entry, filtered, format);
}
