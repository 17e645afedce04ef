/** Accepts at most `maxPerSecond` events in each one-second window; the rest are refused. */
export class RateLimiter {
  readonly #maxPerSecond: number;
  #windowStartMs = 0;
  #countInWindow = 0;

  constructor(maxPerSecond: number) {
    this.#maxPerSecond = maxPerSecond;
  }

  /** True if one more event fits in the current window (and counts it). */
  tryAcquire(nowMs: number = Date.now()): boolean {
    if (nowMs - this.#windowStartMs >= 1000) {
      this.#windowStartMs = nowMs;
      this.#countInWindow = 0;
    }
    if (this.#countInWindow >= this.#maxPerSecond) return false;
    this.#countInWindow++;
    return true;
  }
}
