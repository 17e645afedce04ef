/**
 * A deliberately naive Topic Filter matcher, written straight from MQTT §4.7, used as the oracle for the
 * property tests of `SubscriptionTrie` and `RetainedIndex`.
 */
export function filterMatchesTopic(topicFilter: string, topicName: string): boolean {
  const filterLevels = topicFilter.split('/');
  const topicLevels = topicName.split('/');
  // [MQTT-4.7.2-1] a wildcard first level does not match a Topic Name starting with '$'.
  if (topicName.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    // [MQTT-4.7.1-2] '#' matches the parent level and any number of child levels, so zero remaining is fine.
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** A valid filter per §4.7.1, checked level by level (the oracle for `isValidTopicFilter`). */
export function isValidFilterReference(topicFilter: string): boolean {
  if (topicFilter.length === 0 || topicFilter.includes('\u0000')) return false;
  const levels = topicFilter.split('/');
  return levels.every(
    (level, i) =>
      level === '+' || (level === '#' && i === levels.length - 1) || (!level.includes('+') && !level.includes('#')),
  );
}
