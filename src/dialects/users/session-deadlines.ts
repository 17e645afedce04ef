/**
 * Closes user sessions when their JWT expires (issue 5: "the session is closed when it expires"): one timer per
 * session connected with a JWT, cleared when the session ends. The server sends DISCONNECT 0xA0 Maximum connect time
 * (3.1.1 has no server DISCONNECT: the connection is closed).
 */
import { ReasonCode } from '../../mqtt/codec/index.js';
import type { ClientInfo } from '../../broker/index.js';

/** setTimeout's longest delay (about 24.8 days); a longer wait is taken in steps (JWTs may live up to a year). */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** What the deadlines need of the broker. */
export interface SessionCloser {
  disconnectClient(clientId: string, reasonCode: number, reasonString: string): boolean;
}

export const EXPIRED_REASON_STRING = 'the JWT this session connected with has expired';

/** The expiry timers of connected user sessions, keyed by the connection (a takeover is a new one). */
export class SessionDeadlines {
  readonly #timers = new Map<ClientInfo, NodeJS.Timeout>();
  readonly #nowMs: () => number;
  #closer: SessionCloser | undefined;

  constructor(nowMs: () => number = Date.now) {
    this.#nowMs = nowMs;
  }

  /** Sessions are closed through this broker; until it is set, nothing can be armed. */
  attach(closer: SessionCloser): void {
    this.#closer = closer;
  }

  /** Number of armed timers (for tests and metrics). */
  get size(): number {
    return this.#timers.size;
  }

  /** Closes `client` at `expiresAtMs` (at once when that has passed). */
  arm(client: ClientInfo, expiresAtMs: number): void {
    this.disarm(client);
    const delayMs = expiresAtMs - this.#nowMs();
    if (delayMs <= 0) {
      this.#expire(client);
      return;
    }
    const timer = setTimeout(
      () => {
        this.#timers.delete(client);
        if (delayMs > MAX_TIMER_DELAY_MS) this.arm(client, expiresAtMs);
        else this.#expire(client);
      },
      Math.min(delayMs, MAX_TIMER_DELAY_MS),
    );
    // An armed deadline must not keep a stopping process alive.
    timer.unref();
    this.#timers.set(client, timer);
  }

  disarm(client: ClientInfo): void {
    const timer = this.#timers.get(client);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(client);
  }

  /** Clears every timer (the broker is closing). */
  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #expire(client: ClientInfo): void {
    this.#closer?.disconnectClient(client.clientId, ReasonCode.MaximumConnectTime, EXPIRED_REASON_STRING);
  }
}
