/**
 * Retention: every interval, deletes telemetry and events older than each organization's retention period (and
 * events past their own expiry), in small steps with a turn of the event loop between them, so ingestion never waits
 * behind one large delete.
 */
import type { Logger } from 'pino';
import type { PlatformStore } from '../storage/platform-store.js';

/** Rows deleted per step; small enough that one step holds the store for milliseconds. */
const STEP_ROWS = 5_000;
const DAY_MS = 86_400_000;

export class RetentionSweeper {
  readonly #store: PlatformStore;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #isStopped = false;

  constructor(store: PlatformStore, logger: Logger, intervalMs: number) {
    this.#store = store;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#isStopped = false;
    this.#timer = setInterval(() => {
      void this.sweep();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress to end (it stops after its current step). */
  async stop(): Promise<void> {
    this.#isStopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass over every organization; resolves with the number of rows deleted. Overlapping calls share a pass. */
  sweep(now = Date.now()): Promise<number> {
    this.#running ??= this.#sweep(now).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(now: number): Promise<number> {
    let deleted = 0;
    try {
      for (const org of await this.#store.listOrganizations()) {
        // Organizations without a retention period still lose events past their own expiry.
        const beforeTs = org.retentionDays === null ? 0 : now - org.retentionDays * DAY_MS;
        for (;;) {
          if (this.#isStopped) return deleted;
          const step = await this.#store.deleteExpired(org.id, beforeTs, STEP_ROWS, now);
          deleted += step;
          if (step < STEP_ROWS) break;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'retention sweep failed; it runs again at the next interval');
    }
    if (deleted > 0) this.#logger.info({ deleted }, 'retention: expired telemetry and events deleted');
    return deleted;
  }
}
