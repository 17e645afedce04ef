/**
 * CloudPlugs identifiers (device-apis.md §2.1): a Plug-ID is `<prefix>-<OID>`, prefix `dev` (prototype, thing or
 * controller), `mod` (production template) or `com` (company); an OID is 24 hex characters. The OIDs Switchboard
 * assigns begin with the creation time in ms (12 hex digits) followed by 12 random hex digits, so they sort by time
 * and a `before`/`after` given as an OID stands for that time (docs/cloudplugs.md, "Reading data").
 */
import { randomBytes } from 'node:crypto';

/** The kinds of Plug-ID. */
export type PlugPrefix = 'dev' | 'mod' | 'com';

const OID_PATTERN = /^[0-9a-f]{24}$/;
const PLUG_ID_PATTERN = /^(dev|mod|com)-[0-9a-f]{24}$/;

/** A new OID: 12 hex digits of epoch ms, 12 random hex digits. */
export function newOid(nowMs: number = Date.now()): string {
  return nowMs.toString(16).padStart(12, '0').slice(-12) + randomBytes(6).toString('hex');
}

/** A new Plug-ID with the given prefix. */
export function newPlugId(prefix: PlugPrefix): string {
  return `${prefix}-${newOid()}`;
}

/** True for 24 lower-case hex characters (CloudPlugs clients send them lower case). */
export function isOid(value: string): boolean {
  return OID_PATTERN.test(value);
}

/** True for `dev-…`, `mod-…` or `com-…` with a 24-hex OID. */
export function isPlugId(value: string): boolean {
  return PLUG_ID_PATTERN.test(value);
}

/** True for a device Plug-ID (`dev-` + 24 hex). */
export function isDevicePlugId(value: string): boolean {
  return value.length === 28 && value.startsWith('dev-') && OID_PATTERN.test(value.slice(4));
}

/** True for a production template's Plug-ID (`mod-` + 24 hex). */
export function isModelPlugId(value: string): boolean {
  return value.length === 28 && value.startsWith('mod-') && OID_PATTERN.test(value.slice(4));
}

/** The epoch ms an OID Switchboard assigned encodes (any OID decodes to some time; see the module comment). */
export function oidTimeMs(oid: string): number {
  return Number.parseInt(oid.slice(0, 12), 16);
}
