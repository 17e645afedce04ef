/**
 * Topic Name / Topic Filter syntax rules of MQTT 3.1.1 §4.7 and 5.0 §4.7–4.8.
 *
 * The UTF-8 well-formedness and the 65 535-byte limit [MQTT-4.7.3-3] are checked by the codec when it decodes the
 * string; these functions only apply the topic-level rules, on strings the codec already accepted.
 */

const SLASH = 0x2f; // '/'
const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'
const NUL = '\u0000';

/** The first level of a shared subscription, as the spec spells it (§4.8.2). */
const SHARE_PREFIX = '$share';

/**
 * True when `topicName` may be used in a PUBLISH (or a Will): non-empty [MQTT-4.7.3-1], no wildcard character
 * [MQTT-3.3.2-2], no U+0000 [MQTT-4.7.3-2].
 */
export function isValidTopicName(topicName: string): boolean {
  if (topicName.length === 0) return false;
  // Three indexOf scans run in native code and beat one charCodeAt loop on typical topic lengths.
  return topicName.indexOf('+') === -1 && topicName.indexOf('#') === -1 && topicName.indexOf(NUL) === -1;
}

/**
 * True when `topicFilter` may be used in a SUBSCRIBE / UNSUBSCRIBE: non-empty [MQTT-4.7.3-1], no U+0000
 * [MQTT-4.7.3-2], `#` only as the whole last level [MQTT-4.7.1-2], `+` only as a whole level [MQTT-4.7.1-3].
 *
 * A `$share/...` filter is syntactically a normal filter; use {@link parseSharedSubscription} first to split it.
 */
export function isValidTopicFilter(topicFilter: string): boolean {
  const length = topicFilter.length;
  if (length === 0) return false;
  for (let i = 0; i < length; i++) {
    const code = topicFilter.charCodeAt(i);
    if (code === PLUS) {
      // [MQTT-4.7.1-3] '+' must occupy an entire level: "sport+" and "+tennis" are invalid.
      if (i > 0 && topicFilter.charCodeAt(i - 1) !== SLASH) return false;
      if (i + 1 < length && topicFilter.charCodeAt(i + 1) !== SLASH) return false;
    } else if (code === HASH) {
      // [MQTT-4.7.1-2] '#' must be the last character and occupy the whole last level: "sport/tennis#" and
      // "sport/tennis/#/ranking" are invalid.
      if (i + 1 !== length) return false;
      if (i > 0 && topicFilter.charCodeAt(i - 1) !== SLASH) return false;
    } else if (code === 0) {
      return false; // [MQTT-4.7.3-2]
    }
  }
  return true;
}

/** A Topic Filter of the form `$share/{ShareName}/{filter}`, split into its parts (MQTT 5.0 §4.8.2). */
export interface SharedSubscription {
  readonly kind: 'shared';
  /** The ShareName: non-empty, no `/`, `+` or `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]. */
  readonly shareName: string;
  /** The filter the group subscribes to; always a valid Topic Filter. */
  readonly topicFilter: string;
}

/** The filter's first level is not `$share`: subscribe to it as an ordinary (non-shared) filter. */
export interface NotSharedSubscription {
  readonly kind: 'not-shared';
}

/**
 * The filter's first level is `$share` but the rest is not a valid shared subscription: the broker answers 0x8F
 * Topic Filter Invalid for it (a 3.1.1 SUBACK answers 0x80 Failure).
 */
export interface MalformedSharedSubscription {
  readonly kind: 'malformed';
  /** Which rule was broken, for logs; not part of the protocol. */
  readonly problem: 'missing-share-name' | 'invalid-share-name' | 'missing-topic-filter' | 'invalid-topic-filter';
}

/** What {@link parseSharedSubscription} found. */
export type SharedSubscriptionParseResult = SharedSubscription | NotSharedSubscription | MalformedSharedSubscription;

// Shared, frozen answers so the common "not shared" case allocates nothing.
const NOT_SHARED: NotSharedSubscription = Object.freeze({ kind: 'not-shared' });
const MISSING_SHARE_NAME: MalformedSharedSubscription = Object.freeze({
  kind: 'malformed',
  problem: 'missing-share-name',
});
const INVALID_SHARE_NAME: MalformedSharedSubscription = Object.freeze({
  kind: 'malformed',
  problem: 'invalid-share-name',
});
const MISSING_TOPIC_FILTER: MalformedSharedSubscription = Object.freeze({
  kind: 'malformed',
  problem: 'missing-topic-filter',
});
const INVALID_TOPIC_FILTER: MalformedSharedSubscription = Object.freeze({
  kind: 'malformed',
  problem: 'invalid-topic-filter',
});

/**
 * Splits `$share/{ShareName}/{filter}` [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 *
 * A filter whose first level is exactly `$share` is always treated as a shared subscription, so `$share`,
 * `$share/` and `$share/group` are `malformed` rather than ordinary filters: the level is reserved by the spec and
 * silently subscribing to a literal `$share` topic would hide a client bug. `$shared/x` or `$SHARE/x` are ordinary
 * filters (levels are case-sensitive).
 */
export function parseSharedSubscription(topicFilter: string): SharedSubscriptionParseResult {
  if (!topicFilter.startsWith(SHARE_PREFIX)) return NOT_SHARED;
  const prefixLength = SHARE_PREFIX.length;
  if (topicFilter.length === prefixLength) return MISSING_SHARE_NAME; // "$share"
  if (topicFilter.charCodeAt(prefixLength) !== SLASH) return NOT_SHARED; // "$shared/..."

  const nameStart = prefixLength + 1;
  const nameEnd = topicFilter.indexOf('/', nameStart);
  // [MQTT-4.8.2-2] the ShareName "MUST be followed by a '/' character".
  if (nameEnd === -1) return nameStart === topicFilter.length ? MISSING_SHARE_NAME : MISSING_TOPIC_FILTER;
  if (nameEnd === nameStart) return MISSING_SHARE_NAME; // [MQTT-4.8.2-1] "$share//x"

  const shareName = topicFilter.slice(nameStart, nameEnd);
  // [MQTT-4.8.2-2] no '+' or '#' ('/' is excluded by construction).
  if (shareName.indexOf('+') !== -1 || shareName.indexOf('#') !== -1 || shareName.indexOf(NUL) !== -1) {
    return INVALID_SHARE_NAME;
  }

  // [MQTT-4.8.2-2] the '/' "MUST be followed by a Topic Filter".
  const filter = topicFilter.slice(nameEnd + 1);
  if (filter.length === 0) return MISSING_TOPIC_FILTER;
  if (!isValidTopicFilter(filter)) return INVALID_TOPIC_FILTER;
  return { kind: 'shared', shareName, topicFilter: filter };
}

/**
 * Number of levels in a Topic Name or Topic Filter: one more than the number of `/` (empty levels count, so `/`
 * has two). Used to enforce the configured maximum number of levels before a topic reaches the trie.
 */
export function countTopicLevels(topic: string): number {
  let levels = 1;
  let index = topic.indexOf('/');
  while (index !== -1) {
    levels++;
    index = topic.indexOf('/', index + 1);
  }
  return levels;
}
