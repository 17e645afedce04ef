/**
 * Who may do what. Roles are ordered: a viewer reads everything in its organization; an operator also writes devices,
 * their profiles, zones, systems, data and RPC; an admin also manages users, API keys and its organization. Admins of
 * the server organization (the one created at first start) also create, list and delete other organizations.
 */
import type { Role } from '../platform/model.js';

/** The authenticated principal of a request or an MQTT user session. */
export interface Caller {
  kind: 'user' | 'api-key';
  /** User id or API key id. */
  id: string;
  orgId: string;
  role: Role;
  /** An admin of the server organization: may manage every organization (and only organizations) server-wide. */
  isServerAdmin: boolean;
}

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` grants at least what `required` grants. */
export function hasRole(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}
