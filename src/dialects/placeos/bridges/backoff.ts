/**
 * When a bridge tries its target again: capped exponential back-off with jitter. The first retry comes after about
 * `initialMs`, each failure doubles the base up to `maxMs`, and the delay is drawn from the upper half of the base
 * ("equal jitter"), so the growth stays visible while bridges that lost the same broker at the same moment do not
 * come back in lockstep. There is no attempt limit (docs/placeos.md, "Bridges": a bridge is a standing
 * configuration, not a request).
 */

/** How the delays grow. */
export interface BackoffPolicy {
  /** Base delay of the first retry. */
  initialMs: number;
  /** The base never grows past this. */
  maxMs: number;
}

/** PlaceOS's publisher starts at 250 ms; the cap is the configured `bridges.maxBackoffMs`. */
export const INITIAL_BACKOFF_MS = 250;

/** The base delay before retry number `attempt` (1 = the first retry after a failure): `initialMs * 2^(attempt-1)`, capped. */
export function backoffBaseMs(policy: BackoffPolicy, attempt: number): number {
  // 2^31 is already far beyond any cap; stop doubling there so the number stays finite.
  const exponent = Math.min(Math.max(attempt - 1, 0), 31);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
}

/**
 * The delay before retry number `attempt`: uniformly in [base/2, base]. `random` returns [0, 1) (Math.random by
 * default; tests pass their own to pin a value).
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = backoffBaseMs(policy, attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}
