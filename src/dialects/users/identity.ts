/**
 * Stand-in for foundation item 2 (`src/platform/identity.ts`) until it lands on main: the identity the users auth step
 * attaches to a user session. Same shape as the brief fixes.
 */
import type { Role } from '../../platform/model.js';

/** A user (by JWT) or an API key connected over MQTT. */
export interface UserIdentity {
  kind: 'user';
  orgId: string;
  role: Role;
  /** User id (JWT) or API key id. */
  subject: string;
  /** When the JWT expires (epoch ms); undefined for API keys, which do not expire. */
  expiresAtMs: number | undefined;
}

/** True for identities the users auth step attached. */
export function isUserIdentity(identity: unknown): identity is UserIdentity {
  return typeof identity === 'object' && identity !== null && (identity as { kind?: unknown }).kind === 'user';
}
