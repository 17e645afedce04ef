/**
 * A bridge's bounded buffer: feed entries not yet handed to the MQTT client (while disconnected, during a resync, or
 * while the client's window is full). State is retained on the target, so only the newest entry of a topic matters:
 * a new entry replaces the one queued for its topic and moves to the back. When the buffer holds `maxEntries` topics
 * and an entry for a new topic arrives, the oldest queued entry is dropped and counted (docs/placeos.md, "Bridges").
 */
import type { FeedEntry } from '../feed-types.js';

export class PendingEntries {
  readonly #maxEntries: number;
  #entries = new Map<string, FeedEntry>();
  #dropped = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#entries.size;
  }

  /** Entries dropped on overflow since the bridge started. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues `entry`, replacing an older one of the same topic; on overflow drops the oldest and counts it. */
  push(entry: FeedEntry): void {
    const entries = this.#entries;
    if (entries.delete(entry.topic)) {
      entries.set(entry.topic, entry);
      return;
    }
    if (entries.size >= this.#maxEntries) {
      const oldest = entries.keys().next();
      if (oldest.done === true) {
        // maxEntries 0: nothing is ever kept.
        this.#dropped++;
        return;
      }
      entries.delete(oldest.value);
      this.#dropped++;
    }
    entries.set(entry.topic, entry);
  }

  /** Queues `entry` only if nothing newer waits for its topic (an unacknowledged send put back after a disconnect). */
  pushIfAbsent(entry: FeedEntry): void {
    if (!this.#entries.has(entry.topic)) this.push(entry);
  }

  /** Takes everything queued, oldest first, leaving the buffer empty. */
  takeAll(): Map<string, FeedEntry> {
    const taken = this.#entries;
    this.#entries = new Map();
    return taken;
  }

  /** Removes and returns the oldest entry. */
  shift(): FeedEntry | undefined {
    const first = this.#entries.entries().next();
    if (first.done === true) return undefined;
    this.#entries.delete(first.value[0]);
    return first.value[1];
  }
}
