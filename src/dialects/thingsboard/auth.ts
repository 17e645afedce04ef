/**
 * Who a ThingsBoard CONNECT is (device-apis.md §3.1, choices.md "Who connects"): a provisioning session (username or
 * client id `provision`), a device by X.509 client certificate, by access token, or by MQTT basic credentials in
 * ThingsBoard's lookup order, or nobody (no credentials at all: the caller decides whether anonymous is allowed).
 *
 * The steps are exported separately so the server can put the other dialects' steps between them (choices.md: provision
 * first, then users, Medium One, CloudPlugs, then the ThingsBoard device credentials).
 *
 * Refusal codes. choices.md: "MQTT 5 reason 0x86 or 0x87, 3.1.1 code 0x04 or 0x05". The source document says 0x04
 * when the username is empty and 0x05 when the token is invalid, and ThingsBoard's code sends 0x05 for a wrong token;
 * the broker maps 0x86 → 0x04 and 0x87 → 0x05 for 3.1.1, so the reason is chosen per protocol version:
 * - credentials given but matching no device: v5 0x86 Bad user name or password, 3.1.1 0x05 Not authorized;
 * - no credentials at all (and anonymous not allowed): v5 0x87 Not authorized, 3.1.1 0x04 Bad user name or password;
 * - a password that does not match basic credentials found: the same as wrong credentials.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { ConnectRequest } from '../../broker/index.js';
import type { Device, DeviceCredentials, DeviceProfile } from '../../platform/model.js';
import type { DeviceWithCredentials, PlatformStore } from '../../storage/platform-store.js';

/** A connected ThingsBoard device; attached as `ClientInfo.identity`. */
export interface ThingsboardDeviceIdentity {
  readonly kind: 'tb-device';
  readonly device: Device;
  readonly profile: DeviceProfile;
  readonly credentialsType: DeviceCredentials['type'];
}

/** A provisioning session: may only publish `/provision/request` and subscribe `/provision/response` (§3.6). */
export interface ThingsboardProvisionIdentity {
  readonly kind: 'provision';
}

export type ThingsboardIdentity = ThingsboardDeviceIdentity | ThingsboardProvisionIdentity;

/** What the ThingsBoard credential steps concluded. */
export type ThingsboardAuthOutcome =
  | { outcome: 'device'; identity: ThingsboardDeviceIdentity }
  | { outcome: 'provision'; identity: ThingsboardProvisionIdentity }
  /** No credentials were given and none matched: anonymous if the server allows it. */
  | { outcome: 'none' }
  | { outcome: 'refused'; reasonCode: number };

const REASON_BAD_CREDENTIALS = 0x86;
const REASON_NOT_AUTHORIZED = 0x87;

/** The reason code for credentials that match no device (see the module comment). */
export function badCredentialsReason(protocolVersion: number): number {
  return protocolVersion === 5 ? REASON_BAD_CREDENTIALS : REASON_NOT_AUTHORIZED;
}

/** The reason code for a client that gave no credentials where some are required. */
export function noCredentialsReason(protocolVersion: number): number {
  return protocolVersion === 5 ? REASON_NOT_AUTHORIZED : REASON_BAD_CREDENTIALS;
}

export function isThingsboardIdentity(identity: unknown): identity is ThingsboardIdentity {
  if (typeof identity !== 'object' || identity === null) return false;
  const kind = (identity as { kind?: unknown }).kind;
  return kind === 'tb-device' || kind === 'provision';
}

export function isDeviceIdentity(identity: unknown): identity is ThingsboardDeviceIdentity {
  return isThingsboardIdentity(identity) && identity.kind === 'tb-device';
}

const PROVISION = 'provision';
export const PROVISION_IDENTITY: ThingsboardProvisionIdentity = { kind: 'provision' };

/** Step 1 of choices.md: username or client id `provision`. */
export function isProvisionConnect(request: Pick<ConnectRequest, 'clientId' | 'username'>): boolean {
  return request.username === PROVISION || request.clientId === PROVISION;
}

/** SHA-256 (hex) of a certificate's DER bytes, the key `X509_CERTIFICATE` credentials are stored under. */
export function certificateHash(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * X509_CERTIFICATE_CHAIN provisioning at CONNECT (provision-x509.ts `provisionByCertificate`): a certificate whose own
 * hash names no device may create (or re-key) one from its CN; undefined when it cannot.
 */
export type CertificateProvisioner = (certificate: PeerCertificate) => Promise<DeviceWithCredentials | undefined>;

/** All ThingsBoard steps in order: provisioning, then the device credential look-up. */
export async function authenticateThingsboard(
  store: PlatformStore,
  request: ConnectRequest,
  provisionByCertificate?: CertificateProvisioner,
): Promise<ThingsboardAuthOutcome> {
  if (isProvisionConnect(request)) return { outcome: 'provision', identity: PROVISION_IDENTITY };
  return authenticateThingsboardDevice(store, request, provisionByCertificate);
}

/**
 * Step 5/6 of choices.md: X.509 certificate, then ThingsBoard's `validateCredentials` order: (1) empty username ⇒
 * basic credentials by client id alone; (2) basic credentials by (client id, username), a wrong password failing at
 * once; (3) an access token equal to the username (password and client id ignored), else username-only basic
 * credentials with their password.
 */
export async function authenticateThingsboardDevice(
  store: PlatformStore,
  request: ConnectRequest,
  provisionByCertificate?: CertificateProvisioner,
): Promise<ThingsboardAuthOutcome> {
  const refuse = (): ThingsboardAuthOutcome => ({
    outcome: 'refused',
    reasonCode: badCredentialsReason(request.protocolVersion),
  });
  const certificate = request.connection.peerCertificate;
  const raw = certificate?.raw;
  if (certificate !== undefined && raw !== undefined && raw.length > 0) {
    // The TLS listener verified the certificate against its CA; it names a device when its hash is registered, or
    // provisions one when a profile with the X.509 chain strategy trusts its issuer. Otherwise the other credentials
    // still apply (a user may present a certificate and a token); with none, the refusal is 0x87.
    const found =
      (await store.findByCertificateHash(certificateHash(raw))) ?? (await provisionByCertificate?.(certificate));
    if (found !== undefined) return deviceOutcome(store, found);
  }
  const username = request.username === undefined || request.username === '' ? undefined : request.username;
  const clientId = request.clientId === '' ? undefined : request.clientId;
  const password = request.password?.toString('utf8');
  if (username === undefined) {
    if (clientId !== undefined) {
      const found = await store.findByBasicCredentials(clientId, null);
      if (found !== undefined && found.credentials.type === 'MQTT_BASIC') return deviceOutcome(store, found);
    }
    // A password without a user name cannot name any credentials.
    if (password !== undefined && password !== '') return refuse();
    return raw !== undefined ? { outcome: 'refused', reasonCode: REASON_NOT_AUTHORIZED } : { outcome: 'none' };
  }
  if (clientId !== undefined) {
    const found = await store.findByBasicCredentials(clientId, username);
    if (found !== undefined) return passwordMatches(found, password) ? deviceOutcome(store, found) : refuse();
  }
  const byToken = await store.findByAccessToken(username);
  if (byToken !== undefined) return deviceOutcome(store, byToken);
  const byUsername = await store.findByBasicCredentials(null, username);
  if (byUsername !== undefined && passwordMatches(byUsername, password)) return deviceOutcome(store, byUsername);
  return raw !== undefined && byUsername === undefined
    ? { outcome: 'refused', reasonCode: REASON_NOT_AUTHORIZED }
    : refuse();
}

/** Basic credentials without a password accept any; with one, it must match (compared in constant time). */
function passwordMatches(found: DeviceWithCredentials, given: string | undefined): boolean {
  const credentials = found.credentials;
  if (credentials.type !== 'MQTT_BASIC') return false;
  if (credentials.password === null || credentials.password === '') return true;
  if (given === undefined) return false;
  const expected = Buffer.from(credentials.password);
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

async function deviceOutcome(store: PlatformStore, found: DeviceWithCredentials): Promise<ThingsboardAuthOutcome> {
  const profile = await store.getProfile(found.device.profileId);
  // A device always has a profile (the store keeps the reference); a missing one is a broken store: not authorized.
  if (profile === undefined) return { outcome: 'refused', reasonCode: REASON_NOT_AUTHORIZED };
  return {
    outcome: 'device',
    identity: { kind: 'tb-device', device: found.device, profile, credentialsType: found.credentials.type },
  };
}

export function isProvisionIdentity(identity: unknown): identity is ThingsboardProvisionIdentity {
  return isThingsboardIdentity(identity) && identity.kind === 'provision';
}
