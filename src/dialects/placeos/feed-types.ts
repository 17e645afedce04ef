/**
 * The PlaceOS state feed as its targets see it (device-apis.md §1): the local broker and every bridge read the same
 * entries and format them with the organization's feed settings, each applying its own privacy filter first. The feed
 * (feed.ts) produces entries from the platform's state changes and entity changes; targets only consume them.
 */

/** What a privacy rule does with a match in a serialized value. */
export type PrivacyAction = 'hash' | 'mask' | 'drop';

/** One rule of a target's ordered list; `pattern` is a JavaScript regular expression, validated when saved. */
export interface PrivacyRule {
  pattern: string;
  action: PrivacyAction;
  /** mask: keep this many trailing characters of the match (default 0). */
  keepLast?: number | undefined;
  /** mask: the string that replaces the masked characters (default `*` repeated). */
  replacement?: string | undefined;
}

/** An organization's feed settings (`PUT /api/organizations/{id}/feed`). */
export interface FeedSettings {
  enabled: boolean;
  /** Zone tiers between `placeos/<org>/state/` and the system, first one the scope; default building level area. */
  hierarchy: string[];
  /** `time` in the payload: epoch milliseconds (the document) or seconds (PlaceOS's own publisher). */
  timeUnit: 'ms' | 's';
  /** `value` in the payload: the value serialized as a JSON string (the document) or embedded raw (PlaceOS's code). */
  valueEncoding: 'string' | 'raw';
  /** The local feed's privacy rules. */
  filters: PrivacyRule[];
  /** HMAC-SHA256 key of the local feed's hash rule (hex); generated, never shown. */
  secret: string;
}

/** One change on the feed, before any target formats or filters it. */
export interface FeedEntry {
  orgId: string;
  kind: 'state' | 'metadata';
  /** Topic without a target's prefix: `placeos/<org>/state/…/<key>` or `placeos/<org>/metadata/<id>`. */
  topic: string;
  /** Epoch ms of the change (state: the value's timestamp; metadata: when the entity changed). */
  timeMs: number;
  /**
   * The value serialized as JSON. null = removal: a state topic gets an empty retained payload, a metadata topic
   * `{"time", "value": null}`.
   */
  valueJson: string | null;
}

/** What targets read. */
export interface FeedSource {
  /** Every entry as it happens, in order; returns the unsubscribe function. */
  subscribe(listener: (entry: FeedEntry) => void): () => void;
  /** The current entry of every live topic of the organization: what a target republishes on every (re)connect. */
  current(orgId: string): Iterable<FeedEntry>;
  /** The organization's stored feed settings (check `enabled`); undefined when it never configured its feed (off). */
  settings(orgId: string): FeedSettings | undefined;
}

/** A target's compiled rules. */
export interface PrivacyFilter {
  /** The filtered serialized value (still valid JSON), or undefined when a drop rule matched. */
  apply(valueJson: string): string | undefined;
}
