/**
 * The `placeos/…` namespace on the broker (choices.md "One broker, every dialect"): only the server writes it (the
 * feed), so no client may publish there, or a device could forge retained state. Reading: a user (JWT or API key
 * session) reads its own organization's tree, never another's (PlaceOS itself lets any user read every topic,
 * device-apis.md §1.5; Switchboard scopes it); a wildcard at the organization level is granted with a guard that lets
 * only the user's organization through. A client without an identity (anonymous, when the server allows it) is a plain
 * MQTT client: the broker's ACL rules decide. Devices of the other dialects are refused.
 */
import type { ClientInfo, GuardedGrant, GuardedMessage } from '../../broker/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import { isUserIdentity } from '../../platform/identity.js';
import type { Dialect } from '../dialect.js';
import { FEED_ROOT } from './topics.js';

const REASON_NOT_AUTHORIZED = 0x87;
const GUARD_PREFIX = 'placeos:org:';

/** True for `placeos` and anything under `placeos/`. */
export function isPlaceosTopic(topic: string): boolean {
  return (
    topic.startsWith(FEED_ROOT) && (topic.length === FEED_ROOT.length || topic.charCodeAt(FEED_ROOT.length) === 0x2f)
  );
}

export function createPlaceosDialect(): Dialect {
  return {
    name: 'placeos',
    // PlaceOS has no device credentials of its own; its readers are users (the users dialect's identities).
    ownsIdentity: () => false,
    ownsTopic: isPlaceosTopic,
    authorizePublish: () => REASON_NOT_AUTHORIZED,
    authorizeSubscribe: (client: ClientInfo, topicFilter: string, qos: QoS): number | GuardedGrant => {
      const identity = client.identity;
      if (identity === undefined) return qos;
      if (!isUserIdentity(identity)) return REASON_NOT_AUTHORIZED;
      const slash = topicFilter.indexOf('/');
      if (slash < 0) return qos; // `placeos` alone: matches no feed topic
      const end = topicFilter.indexOf('/', slash + 1);
      const orgLevel = topicFilter.slice(slash + 1, end < 0 ? undefined : end);
      if (orgLevel === identity.orgId) return qos;
      if (orgLevel === '+' || orgLevel === '#') return { qos, guard: GUARD_PREFIX + identity.orgId };
      return REASON_NOT_AUTHORIZED;
    },
    canDeliver: (guard: string, message: GuardedMessage): boolean => {
      const orgId = guard.slice(GUARD_PREFIX.length);
      const topic = message.topicName;
      const start = FEED_ROOT.length + 1;
      return (
        guard.startsWith(GUARD_PREFIX) &&
        isPlaceosTopic(topic) &&
        topic.startsWith(orgId, start) &&
        topic.charCodeAt(start + orgId.length) === 0x2f
      );
    },
  };
}
