/**
 * Repeated refused logins from one address are slowed down (choices.md "Who connects"): after `freeFailures`
 * refusals within `windowMs`, each further refusal from that address is answered only after a delay that doubles per
 * failure up to `maxDelayMs`. Guessing credentials gets slow; a device with one typo still hears back at once. A
 * successful login clears its address. The table of addresses is bounded (the oldest entry goes first), so a flood of
 * addresses costs bounded memory.
 */

export interface AuthThrottleOptions {
  /** Refusals per address within the window answered at once. */
  freeFailures: number;
  /** The longest a refusal is held back. 0 turns the throttle off. */
  maxDelayMs: number;
  /** How long a failure is remembered. */
  windowMs?: number | undefined;
  /** Addresses remembered at most. */
  maxAddresses?: number | undefined;
}

const FIRST_DELAY_MS = 100;

interface Failures {
  count: number;
  firstAtMs: number;
}

export class AuthThrottle {
  readonly #freeFailures: number;
  readonly #maxDelayMs: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  /** Insertion order is age order: the first key is the oldest. */
  readonly #failures = new Map<string, Failures>();

  constructor(options: AuthThrottleOptions) {
    this.#freeFailures = options.freeFailures;
    this.#maxDelayMs = options.maxDelayMs;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
  }

  /** Records a refusal; resolves when it may be answered. */
  refused(address: string, nowMs = Date.now()): Promise<void> {
    if (this.#maxDelayMs === 0 || address === '') return Promise.resolve();
    let entry = this.#failures.get(address);
    if (entry === undefined || nowMs - entry.firstAtMs > this.#windowMs) {
      this.#failures.delete(address);
      if (this.#failures.size >= this.#maxAddresses) {
        const oldest = this.#failures.keys().next().value;
        if (oldest !== undefined) this.#failures.delete(oldest);
      }
      entry = { count: 0, firstAtMs: nowMs };
      this.#failures.set(address, entry);
    }
    entry.count++;
    const delayMs = this.delayFor(entry.count);
    return delayMs === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, delayMs).unref());
  }

  /** Whether any address has failures on record (else a success has nothing to forget). */
  get remembersFailures(): boolean {
    return this.#failures.size > 0;
  }

  /** A successful login forgets the address's failures. */
  succeeded(address: string): void {
    this.#failures.delete(address);
  }

  /** The delay of the n-th refusal within the window. */
  delayFor(failureCount: number): number {
    const beyond = failureCount - this.#freeFailures;
    if (beyond <= 0) return 0;
    return Math.min(this.#maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(beyond - 1, 20));
  }
}
