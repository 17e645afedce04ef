/**
 * What a user session may do (choices.md "Who connects", step 2; device-apis.md §1.5). Users read and subscribe to
 * anything in their organization: the `placeos/<their org id>/…` feed, and plain topics as the broker's ACL allows.
 * Unlike PlaceOS, whose ACL ignores the topic (any user reads every organization's feed), a filter that names another
 * organization or could match more than one organization's feed is refused (SUBACK 0x87): `placeos/<other>/…`,
 * `placeos/+/…`, `placeos/#`, and any filter starting with a wildcard (`#`, `+/…`). Publishing needs the operator or
 * admin role, and nobody publishes into `placeos/` (the feed is the server's).
 */
import { ReasonCode, type QoS } from '../../mqtt/codec/index.js';
import { parseSharedSubscription } from '../../mqtt/topics/index.js';
import { canPublish, type UserIdentity } from '../../platform/identity.js';

/** The first level of the PlaceOS feed namespace. */
export const FEED_ROOT = 'placeos';
const FEED_PREFIX = `${FEED_ROOT}/`;

/** Why a subscription or publish was refused, for logs and tests. */
export type RefusalReason = 'other-organization' | 'spans-organizations' | 'feed-is-read-only' | 'role';

/** Granted QoS, or a refusal with the v5 code (0x87) and why. */
export type SubscribeDecision = { granted: QoS } | { reasonCode: number; reason: RefusalReason };

/** Whether a user may subscribe to `topicFilter` (a `$share/<group>/` prefix is judged by the filter after it). */
export function decideSubscribe(identity: UserIdentity, topicFilter: string, qos: QoS): SubscribeDecision {
  const shared = parseSharedSubscription(topicFilter);
  const filter = shared.kind === 'shared' ? shared.topicFilter : topicFilter;
  const slash = filter.indexOf('/');
  const first = slash === -1 ? filter : filter.slice(0, slash);
  if (first === '#' || first === '+') return { reasonCode: ReasonCode.NotAuthorized, reason: 'spans-organizations' };
  if (first !== FEED_ROOT || slash === -1) return { granted: qos };
  const rest = filter.slice(slash + 1);
  const next = rest.indexOf('/');
  const org = next === -1 ? rest : rest.slice(0, next);
  if (org === '#' || org === '+') return { reasonCode: ReasonCode.NotAuthorized, reason: 'spans-organizations' };
  if (org !== identity.orgId) return { reasonCode: ReasonCode.NotAuthorized, reason: 'other-organization' };
  return { granted: qos };
}

/** `true`, or why a user may not publish on `topicName`. */
export function decidePublish(identity: UserIdentity, topicName: string): true | RefusalReason {
  if (topicName === FEED_ROOT || topicName.startsWith(FEED_PREFIX)) return 'feed-is-read-only';
  return canPublish(identity) ? true : 'role';
}
