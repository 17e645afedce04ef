/** MQTT topics: Topic Name / Filter rules, shared-subscription parsing, the subscription trie, retained index. */
export { countTopicLevels, isValidTopicFilter, isValidTopicName, parseSharedSubscription } from './topic-validation.js';
export type {
  MalformedSharedSubscription,
  NotSharedSubscription,
  SharedSubscription,
  SharedSubscriptionParseResult,
} from './topic-validation.js';
export { SubscriptionTrie } from './subscription-trie.js';
export { RetainedIndex } from './retained-index.js';
