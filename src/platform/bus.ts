/**
 * The state-change bus: every telemetry value, attribute change and event, once committed, is published here once.
 * Storage feeds it (the platform service emits after the commit), and readers (live HTTP streams, later the PlaceOS
 * feed and bridges) subscribe; no reader reaches into a dialect. Delivery is synchronous and in commit order; a
 * listener that throws is logged and kept, and never stops the others.
 */
import type { Logger } from 'pino';
import type { StateChange } from './model.js';

export type StateChangeListener = (change: StateChange) => void;

export class StateChangeBus {
  readonly #listeners = new Set<StateChangeListener>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: StateChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  publish(change: StateChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#logger.error({ err: error, kind: change.kind }, 'state change listener failed');
      }
    }
  }
}
