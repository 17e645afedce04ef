/** Static ACL rules from the config file, for deployments without the platform. */
import type { AclRule } from './options.js';

/**
 * Whether `topic` falls under the rule's filter. For subscriptions the requested filter is taken literally as the
 * topic, so a rule `sensors/#` covers the request `sensors/+/temp` and a rule `test/nosubscribe` covers only itself.
 */
function ruleFilterMatches(filter: string, topic: string): boolean {
  if (filter === topic || filter === '#') return filter !== '#' || !topic.startsWith('$');
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  // [MQTT-4.7.2-1] a rule starting with a wildcard does not cover $-topics.
  if ((filterLevels[0] === '+' || filterLevels[0] === '#') && topic.startsWith('$')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** The first matching rule decides; no matching rule allows. */
export function isAllowedByAcl(
  rules: readonly AclRule[],
  action: 'publish' | 'subscribe',
  clientId: string,
  username: string | undefined,
  topic: string,
): boolean {
  for (const rule of rules) {
    if (rule.action !== 'all' && rule.action !== action) continue;
    if (rule.clientIds !== undefined && !rule.clientIds.includes(clientId)) continue;
    if (rule.users !== undefined && (username === undefined || !rule.users.includes(username))) continue;
    if (ruleFilterMatches(rule.topic, topic)) return rule.allow;
  }
  return true;
}
