/** The PlaceOS integration's feed side (docs/placeos.md): the state feed, privacy filters, the local target, the route. */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { Platform } from '../../platform/platform.js';
import { PlaceosFeed } from './feed.js';
import { feedHttpPlugin } from './feed-http.js';
import { SqlFeedSettingsStore } from './feed-store.js';
import { LocalFeedTarget, type FeedPublisher } from './local-target.js';

export { createPlaceosDialect, isPlaceosTopic } from './dialect.js';
export { PlaceosFeed } from './feed.js';
export type { PlaceosFeedOptions } from './feed.js';
export type { FeedEntry, FeedSettings, FeedSource, PrivacyAction, PrivacyFilter, PrivacyRule } from './feed-types.js';
export {
  DEFAULT_HIERARCHY,
  FeedSettingsBody,
  FeedSettingsError,
  PrivacyRuleBody,
  PrivacyRules,
} from './feed-settings.js';
export { FEED_SCHEMA, SqlFeedSettingsStore } from './feed-store.js';
export type { FeedSettingsStore } from './feed-store.js';
export { LocalFeedTarget } from './local-target.js';
export type { FeedPublisher, LocalTargetOptions } from './local-target.js';
export { feedPayload } from './payload.js';
export {
  BUILTIN_PREFIX,
  BUILTIN_PRIVACY_PATTERNS,
  compilePrivacyRules,
  PRIVACY_LIMITS,
  PrivacyRuleError,
} from './privacy.js';
export { metadataTopic, stateRoot, topicSegment } from './topics.js';

/** The running feed: the source targets read, the local target, and the settings route for the HTTP app. */
export interface PlaceosFeedService {
  feed: PlaceosFeed;
  localTarget: LocalFeedTarget;
  httpPlugin: FastifyPluginAsync;
  /** Stops following the platform and publishing (before the broker closes). */
  close(): void;
}

/**
 * Opens the settings table, starts the local target on `broker` and the feed; resolves once every organization whose
 * feed is on has published its current state.
 */
export async function startPlaceosFeed(options: {
  platform: Platform;
  broker: FeedPublisher;
  logger: Logger;
}): Promise<PlaceosFeedService> {
  const { platform, broker, logger } = options;
  const store = await SqlFeedSettingsStore.open(platform.store, logger);
  const feed = new PlaceosFeed({ platform, store, logger });
  const localTarget = new LocalFeedTarget({ feed, broker, logger });
  localTarget.start();
  await feed.start();
  return {
    feed,
    localTarget,
    httpPlugin: feedHttpPlugin({ feed, store: platform.store }),
    close: () => {
      feed.close();
      localTarget.stop();
    },
  };
}
