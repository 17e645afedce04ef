/**
 * X509_CERTIFICATE_CHAIN provisioning (device-apis.md §3.6): a device connecting on the TLS listener with a certificate
 * nobody knows yet is created (or re-keyed) from the certificate itself, its name taken from the CN with the profile's
 * regex.
 *
 * How a certificate finds its profile (our choice; ThingsBoard keys the profile by a hash of its CA certificate too):
 * the profile stores the issuing CA's certificate in `provisioning.caCertificatePem`, and its provision `key` is
 * `x509ChainProvisionKey(caCertificatePem)`, a SHA-256 of the CA's subject DN. At CONNECT the client certificate's
 * issuer DN (and, when the listener hands over the detailed chain, each further issuer's) gives the key to look up;
 * the certificate is accepted only if it is really signed by that CA (directly, or through the intermediates of the
 * chain it presented) and is within its validity dates. The TLS listener must also trust the chain (`tls.ca`).
 *
 * API (the core dialect calls it at CONNECT on the TLS listener, after the certificate's own hash matched no device):
 *
 *   provisionByCertificate(platform, certificate) → DeviceWithCredentials | undefined
 *
 * - undefined: no X509_CERTIFICATE_CHAIN profile for this issuer, a bad signature, an expired certificate, a CN the
 *   regex does not match, a device of that name in another profile, or creation not allowed → refuse the CONNECT
 *   (0x87 / 3.1.1 0x05, as for other X.509 problems).
 * - The device found by name in the profile gets this certificate as its credentials (certificate renewal); a new one
 *   is created with them and marked `provisionState = "provisioned"`.
 *
 * For the HTTP API: `x509ChainProvisionKey(pem)` (the key to save with the profile) and
 * `validateX509ChainSettings(settings)` (an error message, or undefined).
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { DeviceProfile, ProvisioningSettings } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import type { DeviceWithCredentials } from '../../storage/platform-store.js';
import { PROVISION_STATE_KEY, PROVISIONED_STATE } from './provision.js';

/** ThingsBoard's default CN pattern: the whole CN is the device name. */
const DEFAULT_CERTIFICATE_REGEX = '(.*)';

/** A chain longer than this is not walked (a loop in a broken chain, or abuse). */
const MAX_CHAIN_DEPTH = 8;

/** The provision key of an X509_CERTIFICATE_CHAIN profile whose devices' certificates `caCertificatePem` issues. */
export function x509ChainProvisionKey(caCertificatePem: string): string {
  return keyForSubject(new X509Certificate(caCertificatePem).subject);
}

function keyForSubject(subjectDn: string): string {
  return `x509-chain:${createHash('sha256').update(subjectDn).digest('hex')}`;
}

/** Checks X509_CERTIFICATE_CHAIN settings when a profile is saved; undefined when usable. */
export function validateX509ChainSettings(settings: ProvisioningSettings): string | undefined {
  if (settings.strategy !== 'X509_CERTIFICATE_CHAIN') return undefined;
  if (settings.caCertificatePem === undefined) return 'caCertificatePem is required for X509_CERTIFICATE_CHAIN';
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(settings.caCertificatePem);
  } catch {
    return 'caCertificatePem is not a PEM certificate';
  }
  if (settings.key !== keyForSubject(ca.subject)) {
    return 'the provision key of an X509_CERTIFICATE_CHAIN profile must be x509ChainProvisionKey(caCertificatePem)';
  }
  try {
    new RegExp(settings.certificateRegex ?? DEFAULT_CERTIFICATE_REGEX);
  } catch {
    return 'certificateRegex is not a valid regular expression';
  }
  return undefined;
}

/** Provisions (or re-keys) the device a client certificate names; see the module comment. */
export async function provisionByCertificate(
  platform: Platform,
  certificate: PeerCertificate,
): Promise<DeviceWithCredentials | undefined> {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificate.raw);
  } catch {
    return undefined;
  }
  if (!isValidNow(leaf)) return undefined;
  const certificateHash = createHash('sha256').update(certificate.raw).digest('hex');
  const known = await platform.store.findByCertificateHash(certificateHash);
  if (known !== undefined) return known;

  const found = await findProfile(platform, leaf, certificate);
  if (found === undefined) return undefined;
  const { profile, settings } = found;
  const name = deviceNameFromCn(commonName(certificate), settings.certificateRegex ?? DEFAULT_CERTIFICATE_REGEX);
  if (name === undefined) return undefined;

  const credentials = { type: 'X509_CERTIFICATE', certificateHash } as const;
  const existing = await platform.store.getDeviceByName(profile.orgId, name);
  if (existing !== undefined) {
    if (existing.profileId !== profile.id) return undefined;
    await platform.store.setCredentials(existing.id, credentials);
    return { device: existing, credentials };
  }
  if (settings.allowCreateNewDevicesByX509Certificate === false) return undefined;
  const created = await platform.entities.createDevice(profile.orgId, { name, profileId: profile.id, credentials });
  await platform.committed((done) => {
    platform.postAttributes(created.device, 'server', { [PROVISION_STATE_KEY]: PROVISIONED_STATE }, done);
  });
  return created;
}

/**
 * The X509_CERTIFICATE_CHAIN profile whose CA issued `leaf`: tried for the leaf's issuer, then up the presented chain.
 * The signatures from the leaf up to that CA are verified.
 */
async function findProfile(
  platform: Platform,
  leaf: X509Certificate,
  certificate: PeerCertificate,
): Promise<{ profile: DeviceProfile; settings: ProvisioningSettings } | undefined> {
  // The chain as presented: leaf first, then each issuer the listener included (detailed peer certificate only).
  const chain: X509Certificate[] = [leaf];
  let link = (certificate as Partial<DetailedCertificate>).issuerCertificate;
  while (link?.raw !== undefined && chain.length < MAX_CHAIN_DEPTH) {
    const next = new X509Certificate(link.raw);
    const last = chain[chain.length - 1]!;
    if (next.fingerprint256 === last.fingerprint256) break; // a self-signed root points at itself
    chain.push(next);
    link = (link as Partial<DetailedCertificate>).issuerCertificate;
  }
  for (let depth = 0; depth < chain.length; depth++) {
    const issued = chain[depth]!;
    const profile = await platform.store.getProfileByProvisionKey(keyForSubject(issued.issuer));
    const settings = profile?.provisioning;
    if (profile === undefined || settings?.strategy !== 'X509_CERTIFICATE_CHAIN') continue;
    if (settings.caCertificatePem === undefined) continue;
    const ca = new X509Certificate(settings.caCertificatePem);
    if (isSignedUpTo(chain, depth, ca)) return { profile, settings };
  }
  return undefined;
}

interface DetailedCertificate {
  raw: Buffer;
  issuerCertificate: DetailedCertificate;
}

/** Each of chain[0..depth] is signed by the next, and chain[depth] by `ca`. */
function isSignedUpTo(chain: readonly X509Certificate[], depth: number, ca: X509Certificate): boolean {
  for (let i = 0; i < depth; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey) || !isValidNow(parent)) return false;
  }
  const top = chain[depth]!;
  return top.checkIssued(ca) && top.verify(ca.publicKey) && isValidNow(ca);
}

function isValidNow(certificate: X509Certificate): boolean {
  const now = Date.now();
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}

function commonName(certificate: PeerCertificate): string | undefined {
  const cn: unknown = (certificate.subject as Record<string, unknown> | undefined)?.['CN'];
  if (typeof cn === 'string') return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return undefined;
}

/** The first capture group of the regex's first match in the CN (the whole match when it has no group). */
export function deviceNameFromCn(cn: string | undefined, regex: string): string | undefined {
  if (cn === undefined) return undefined;
  let match: RegExpExecArray | null;
  try {
    match = new RegExp(regex).exec(cn);
  } catch {
    return undefined;
  }
  const name = (match?.[1] ?? match?.[0])?.trim();
  return name === undefined || name === '' ? undefined : name;
}
