/**
 * What a user session may do (choices.md "Who connects", step 2; device-apis.md §1.5; docs/users.md). Users read and
 * subscribe to anything in their organization: the `placeos/<their org id>/…` feed, and plain topics as the broker's
 * ACL allows. Unlike PlaceOS, whose ACL ignores the topic (any user reads every organization's feed), Switchboard keeps
 * each organization's feed to its users:
 *
 * - a filter naming another organization (`placeos/<other>/…`) is refused (SUBACK 0x87);
 * - a filter whose wildcard could span organizations (`#`, `+/…`, `placeos/+/…`, `placeos/#`) is granted with the
 *   delivery guard `users:<org id>`: the user gets its own organization's feed and plain topics through it, never
 *   another organization's feed nor another dialect's namespace (those are read by subscribing to them, and their owner
 *   decides). So a generic client that subscribes to `#` (MQTT Explorer does by default) works and sees its own data.
 *
 * Publishing needs the operator or admin role, and nobody publishes into `placeos/` (the feed is the server's).
 */
import { ReasonCode, type QoS } from '../../mqtt/codec/index.js';
import { parseSharedSubscription } from '../../mqtt/topics/index.js';
import { canPublish, type UserIdentity } from '../../platform/identity.js';

/** The first level of the PlaceOS feed namespace. */
export const FEED_ROOT = 'placeos';
const FEED_ROOT_LENGTH = FEED_ROOT.length;
const SLASH = 0x2f;

/** Delivery guards this dialect grants start with it (the router sends `users:…` guards here). */
export const GUARD_PREFIX = 'users:';

/** Why a subscription or publish was refused, for logs and tests. */
export type RefusalReason = 'other-organization' | 'feed-is-read-only' | 'role';

/** Granted QoS (with a guard for filters that could span organizations), or a refusal with the v5 code (0x87). */
export type SubscribeDecision = { granted: QoS; guard?: string } | { reasonCode: number; reason: RefusalReason };

/** True for `placeos` and anything under `placeos/`. */
export function isFeedTopic(topic: string): boolean {
  return (
    topic.startsWith(FEED_ROOT) && (topic.length === FEED_ROOT_LENGTH || topic.charCodeAt(FEED_ROOT_LENGTH) === SLASH)
  );
}

/** The guard that lets only `orgId`'s feed (and plain topics) through. */
export function guardFor(orgId: string): string {
  return GUARD_PREFIX + orgId;
}

/** Whether a user may subscribe to `topicFilter` (a `$share/<group>/` prefix is judged by the filter after it). */
export function decideSubscribe(identity: UserIdentity, topicFilter: string, qos: QoS): SubscribeDecision {
  const shared = parseSharedSubscription(topicFilter);
  const filter = shared.kind === 'shared' ? shared.topicFilter : topicFilter;
  const slash = filter.indexOf('/');
  const first = slash === -1 ? filter : filter.slice(0, slash);
  if (first === '#' || first === '+') return { granted: qos, guard: guardFor(identity.orgId) };
  if (first !== FEED_ROOT || slash === -1) return { granted: qos };
  const next = filter.indexOf('/', slash + 1);
  const org = filter.slice(slash + 1, next === -1 ? undefined : next);
  if (org === identity.orgId) return { granted: qos };
  if (org === '#' || org === '+') return { granted: qos, guard: guardFor(identity.orgId) };
  return { reasonCode: ReasonCode.NotAuthorized, reason: 'other-organization' };
}

/**
 * Whether a message may reach a subscription granted with `guard` (`users:<org id>`): the organization's own feed
 * topics and plain topics; not another organization's feed, nor a topic in another dialect's namespace.
 */
export function isDeliverable(
  guard: string,
  topicName: string,
  isOwnedByAnotherDialect: (topic: string) => boolean,
): boolean {
  if (!guard.startsWith(GUARD_PREFIX)) return false;
  if (isFeedTopic(topicName)) {
    const orgId = guard.slice(GUARD_PREFIX.length);
    const start = FEED_ROOT_LENGTH + 1;
    return (
      orgId.length > 0 && topicName.startsWith(orgId, start) && topicName.charCodeAt(start + orgId.length) === SLASH
    );
  }
  return !isOwnedByAnotherDialect(topicName);
}

/** `true`, or why a user may not publish on `topicName`. */
export function decidePublish(identity: UserIdentity, topicName: string): true | RefusalReason {
  if (isFeedTopic(topicName)) return 'feed-is-read-only';
  return canPublish(identity) ? true : 'role';
}
