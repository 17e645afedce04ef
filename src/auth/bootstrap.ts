/**
 * First start: with no user at all, create the organization "default" and its user `admin`. The password comes from
 * the caller (SWITCHBOARD_ADMIN_PASSWORD) or is generated; a generated one is returned so the caller prints it once,
 * as it is stored only hashed.
 */
import type { EntityService } from '../platform/entities.js';
import { randomAlphanumeric } from '../platform/entities.js';
import type { AuthService } from './service.js';

export const BOOTSTRAP_ORGANIZATION = 'default';
export const BOOTSTRAP_USERNAME = 'admin';
const GENERATED_PASSWORD_CHARS = 20;

export type BootstrapResult =
  /** Users exist already: nothing was done. */
  | { isCreated: false }
  | {
      isCreated: true;
      orgId: string;
      username: string;
      password: string;
      /** True when the password was generated and must be shown to the operator now. */
      isPasswordGenerated: boolean;
    };

export interface BootstrapOptions {
  entities: EntityService;
  auth: AuthService;
  /** SWITCHBOARD_ADMIN_PASSWORD; empty or undefined: generate one. */
  adminPassword?: string | undefined;
}

/** Creates the default organization and admin when the store has no user; safe to call on every start. */
export async function bootstrapAdmin(options: BootstrapOptions): Promise<BootstrapResult> {
  const { entities, auth } = options;
  if ((await entities.store.countUsers()) > 0) return { isCreated: false };
  // An organization may exist without users (created by a dialect or a crash between these two steps): reuse the
  // oldest, which is the server organization, instead of creating a second "default".
  const existing = await auth.serverOrgId();
  const orgId = existing ?? (await entities.createOrganization({ name: BOOTSTRAP_ORGANIZATION })).id;
  const isPasswordGenerated = options.adminPassword === undefined || options.adminPassword === '';
  const password = isPasswordGenerated ? randomAlphanumeric(GENERATED_PASSWORD_CHARS) : options.adminPassword!;
  await auth.createUser(orgId, { username: BOOTSTRAP_USERNAME, password, role: 'admin' });
  return { isCreated: true, orgId, username: BOOTSTRAP_USERNAME, password, isPasswordGenerated };
}
