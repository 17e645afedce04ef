/**
 * The local target: the feed published on Switchboard's own broker, retained, after the organization's local privacy
 * filters, so every listener (and the users' WebSocket API at `/api/mqtt/`) sees it. QoS 0 by default: retained state
 * is its own recovery, a subscriber asks for QoS 1 if it wants acknowledged delivery and gets min(1, publish QoS).
 */
import type { Logger } from 'pino';
import type { InboundMessage } from '../../broker/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import type { FeedEntry, FeedSettings, FeedSource, PrivacyFilter } from './feed-types.js';
import { feedPayload } from './payload.js';
import { compilePrivacyRules } from './privacy.js';

/** What the target needs of the broker. */
export interface FeedPublisher {
  publish(message: InboundMessage, options?: { persistRetained?: boolean }): void;
}

export interface LocalTargetOptions {
  feed: FeedSource;
  broker: FeedPublisher;
  logger: Logger;
  /** QoS of the published messages (default 0). */
  qos?: QoS | undefined;
}

/** Filters fail closed: rules that no longer compile (stored by an older version) publish nothing. */
const BLOCK_ALL: PrivacyFilter = { apply: () => undefined };

export class LocalFeedTarget {
  readonly #feed: FeedSource;
  readonly #broker: FeedPublisher;
  readonly #logger: Logger;
  readonly #qos: QoS;
  /** Compiled filters per settings object: a PUT replaces the object, so a change recompiles. */
  readonly #filters = new WeakMap<FeedSettings, PrivacyFilter>();
  #unsubscribe: (() => void) | undefined;
  #droppedCount = 0;
  #publishedCount = 0;

  constructor(options: LocalTargetOptions) {
    this.#feed = options.feed;
    this.#broker = options.broker;
    this.#logger = options.logger;
    this.#qos = options.qos ?? 0;
  }

  /** Messages published, and changes a drop rule withheld, since start. */
  get counts(): { published: number; dropped: number } {
    return { published: this.#publishedCount, dropped: this.#droppedCount };
  }

  start(): void {
    this.#unsubscribe ??= this.#feed.subscribe((entry) => {
      this.#publish(entry);
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #publish(entry: FeedEntry): void {
    const settings = this.#feed.settings(entry.orgId);
    if (settings?.enabled !== true) return;
    let valueJson = entry.valueJson;
    if (valueJson !== null) {
      const filtered = this.#filterOf(settings, entry.orgId).apply(valueJson);
      if (filtered === undefined) {
        this.#droppedCount++;
        return;
      }
      valueJson = filtered;
    }
    this.#publishedCount++;
    // In memory only: the feed republishes every organization's state at start, so storing each change in the
    // broker's retained store would cost a write per state change for nothing (most of the feed's CPU when measured).
    this.#broker.publish(
      {
        topicName: entry.topic,
        payload: feedPayload(entry, valueJson, settings),
        qos: this.#qos,
        isRetained: true,
        properties: undefined,
      },
      { persistRetained: false },
    );
  }

  #filterOf(settings: FeedSettings, orgId: string): PrivacyFilter {
    let filter = this.#filters.get(settings);
    if (filter === undefined) {
      try {
        filter = compilePrivacyRules(settings.filters, settings.secret);
      } catch (error) {
        this.#logger.error({ err: error, orgId }, 'the local feed filters do not compile: nothing is published');
        filter = BLOCK_ALL;
      }
      this.#filters.set(settings, filter);
    }
    return filter;
  }
}
