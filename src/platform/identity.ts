/**
 * What a user session carries (choices.md "Who connects", step 2: a JWT or an API key as both username and password;
 * the PlaceOS WebSocket API). Defined here, beside the model, because every dialect's namespace owner decides what a
 * user of an organization may read there: users read anything in their organization, publishing needs operator or
 * admin.
 */
import type { Role } from './model.js';

export interface UserIdentity {
  readonly kind: 'user';
  readonly orgId: string;
  readonly role: Role;
  /** The user's id, or the API key's id. */
  readonly subject: string;
  /** When the JWT expires (epoch ms); undefined for an API key. */
  readonly expiresAtMs: number | undefined;
}

export function isUserIdentity(identity: unknown): identity is UserIdentity {
  return typeof identity === 'object' && identity !== null && (identity as { kind?: unknown }).kind === 'user';
}

/** Whether the role may publish (operator and admin; viewers only read). */
export function canPublish(identity: UserIdentity): boolean {
  return identity.role === 'operator' || identity.role === 'admin';
}
