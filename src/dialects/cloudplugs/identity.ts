/**
 * What the CloudPlugs auth steps attach to a connection (`ClientInfo.identity`): a device (prototype, thing or
 * controller) by Plug-ID, an account (a platform user logged in by e-mail and master password), or an enrolment
 * session (empty username and password). Devices are named by id only: their status and permission filter are read
 * from the registry on every use, so a change applies to connected clients at once.
 */
import type { Role } from '../../platform/model.js';

const BRAND = Symbol('cloudplugs identity');

/** A device logged in by Plug-ID and auth code. */
export interface PlugDeviceIdentity {
  readonly [BRAND]: true;
  readonly kind: 'device';
  readonly deviceId: string;
  readonly plugId: string;
  readonly orgId: string;
}

/** An account: a platform user logged in by e-mail and master password. */
export interface PlugAccountIdentity {
  readonly [BRAND]: true;
  readonly kind: 'account';
  readonly orgId: string;
  readonly userId: string;
  readonly role: Role;
}

/** An enrolment session (empty username and password). */
export interface PlugEnrollIdentity {
  readonly [BRAND]: true;
  readonly kind: 'enroll';
  /** From the client id `HWID/NAME`. */
  readonly hwid: string;
  readonly name: string | undefined;
}

/** Any identity the dialect attaches. */
export type CloudplugsIdentity = PlugDeviceIdentity | PlugAccountIdentity | PlugEnrollIdentity;

/** A device identity. */
export function deviceIdentity(deviceId: string, plugId: string, orgId: string): PlugDeviceIdentity {
  return { [BRAND]: true, kind: 'device', deviceId, plugId, orgId };
}

/** An account identity. */
export function accountIdentity(orgId: string, userId: string, role: Role): PlugAccountIdentity {
  return { [BRAND]: true, kind: 'account', orgId, userId, role };
}

/** An enrolment identity. */
export function enrollIdentity(hwid: string, name: string | undefined): PlugEnrollIdentity {
  return { [BRAND]: true, kind: 'enroll', hwid, name };
}

/** True for identities the CloudPlugs auth steps attached. */
export function isCloudplugsIdentity(value: unknown): value is CloudplugsIdentity {
  return typeof value === 'object' && value !== null && BRAND in value;
}

/** `HWID/NAME` (NAME optional; the HWID is what precedes the first `/`). */
export function parseClientId(clientId: string): { hwid: string; name: string | undefined } {
  const slash = clientId.indexOf('/');
  if (slash < 0) return { hwid: clientId, name: undefined };
  const name = clientId.slice(slash + 1);
  return { hwid: clientId.slice(0, slash), name: name === '' ? undefined : name };
}
