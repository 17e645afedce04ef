/**
 * Sessions of the Medium One REST API (`POST /v2/login`): a random token per login, kept in memory (a restart logs
 * every REST client out, as a session cookie would), valid for a fixed time, at most `maxSessions` at once (the oldest
 * is dropped first). Tokens are not JWTs on purpose: a Medium One login grants the device API, never the management
 * API.
 */
import { randomBytes } from 'node:crypto';
import type { MediumOneIdentity } from './auth.js';

export interface RestSession {
  identity: MediumOneIdentity;
  /** The login id the user logged in with (username or user mqttId). */
  loginIds: readonly string[];
  expiresAtMs: number;
}

export class RestSessions {
  readonly #lifetimeMs: number;
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, RestSession>();

  constructor(lifetimeSeconds: number, maxSessions: number) {
    this.#lifetimeMs = lifetimeSeconds * 1000;
    this.#maxSessions = maxSessions;
  }

  get lifetimeSeconds(): number {
    return this.#lifetimeMs / 1000;
  }

  /** A new session's token. */
  create(identity: MediumOneIdentity, loginIds: readonly string[], nowMs = Date.now()): string {
    const token = randomBytes(24).toString('base64url');
    if (this.#sessions.size >= this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(token, { identity, loginIds, expiresAtMs: nowMs + this.#lifetimeMs });
    return token;
  }

  /** The session of a token, if it exists and has not expired. */
  get(token: string, nowMs = Date.now()): RestSession | undefined {
    const session = this.#sessions.get(token);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= nowMs) {
      this.#sessions.delete(token);
      return undefined;
    }
    return session;
  }

  /** Ends every session of a user (deleted, password changed…). */
  endUser(userId: string): void {
    for (const [token, session] of this.#sessions) {
      if (session.identity.userId === userId) this.#sessions.delete(token);
    }
  }

  /** Ends every session of an organization. */
  endOrganization(orgId: string): void {
    for (const [token, session] of this.#sessions) {
      if (session.identity.orgId === orgId) this.#sessions.delete(token);
    }
  }
}
