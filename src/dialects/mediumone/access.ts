/**
 * Who may publish and subscribe where in the Medium One namespace (device-apis.md §4.2, choices.md): a device user
 * publishes events only under its own `0/<project>/<user>/…` and subscribes only to its own user's `1/<p>/<u>/…` and
 * its project's `2/<p>/…` (devices of one user are not isolated from each other, as on Medium One; projects are);
 * down topics are the server's. Platform users (JWT / API key sessions) of the organization may subscribe to its whole
 * namespace and, with the operator role, publish down topics. Everyone else is refused with 0x87.
 */
import { hasRole } from '../../auth/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import { isUserIdentity } from '../../platform/identity.js';
import { isMediumOneIdentity, M1Reason } from './auth.js';
import { isDeviceUserFilter, isMediumOneNamespace, projectOf } from './topics.js';

/** The organization's project id (`mqttId`), known in memory: hooks are synchronous. */
export type ProjectOf = (orgId: string) => string | undefined;

/** Whether `topic` is `0/<p>/<u>` or below it. */
function isOwnEventTopic(topic: string, projectMqttId: string, userMqttId: string): boolean {
  const prefix = `0/${projectMqttId}/${userMqttId}`;
  return topic === prefix || (topic.startsWith(prefix) && topic.charCodeAt(prefix.length) === 0x2f);
}

/** authorizePublish for any client on a namespace topic; for a device user's plain topics, true (ACL rules apply). */
export function authorizePublish(identity: unknown, topicName: string, projectOfOrg: ProjectOf): true | number {
  const isOwned = isMediumOneNamespace(topicName);
  if (isMediumOneIdentity(identity)) {
    if (!isOwned) return true;
    return isOwnEventTopic(topicName, identity.projectMqttId, identity.userMqttId) ? true : M1Reason.NotAuthorized;
  }
  if (isUserIdentity(identity) && topicName.charCodeAt(0) !== 0x30 /* 0 */) {
    const project = projectOfOrg(identity.orgId);
    const isOwnProject = project !== undefined && projectOf(topicName) === project;
    return isOwnProject && hasRole(identity.role, 'operator') ? true : M1Reason.NotAuthorized;
  }
  return M1Reason.NotAuthorized;
}

/**
 * authorizeSubscribe for any client on a namespace filter; for a device user's plain filters, the requested QoS except
 * for a wildcard first level (`#`, `+/…`), which would read other projects' topics and the other dialects'.
 */
export function authorizeSubscribe(identity: unknown, topicFilter: string, qos: QoS, projectOfOrg: ProjectOf): number {
  const isOwned = isMediumOneNamespace(topicFilter);
  if (isMediumOneIdentity(identity)) {
    if (!isOwned) {
      const c = topicFilter.charCodeAt(0);
      return c === 0x23 /* # */ || c === 0x2b /* + */ ? M1Reason.NotAuthorized : qos;
    }
    return isDeviceUserFilter(topicFilter, identity.projectMqttId, identity.userMqttId) ? qos : M1Reason.NotAuthorized;
  }
  if (isUserIdentity(identity)) {
    const project = projectOfOrg(identity.orgId);
    return project !== undefined && projectOf(topicFilter) === project ? qos : M1Reason.NotAuthorized;
  }
  return M1Reason.NotAuthorized;
}
