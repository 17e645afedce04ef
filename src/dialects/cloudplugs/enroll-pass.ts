/**
 * Enrolment passwords (device-apis.md §2.4): a thing's is `base64(sha1(SECRET + HWID))`, a controller's control
 * password `base64(sha1(HWID + SECRET))` with the *thing's* HWID, unless an explicit one was uploaded for that HWID.
 * Compared in constant time. A derived password is standard base64, whose `+` no MQTT filter may carry inside a level
 * ([MQTT-4.7.1-2]): the URL-safe spelling (`-` for `+`, `_` for `/`) and a missing `=` padding are accepted too.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The enrolment password a thing with `hwid` presents for a template with `secret`. */
export function thingEnrollPass(secret: string, hwid: string): string {
  return createHash('sha1')
    .update(secret + hwid, 'utf8')
    .digest('base64');
}

/** The control password a controller presents to control the thing with `thingHwid`. */
export function controlPass(secret: string, thingHwid: string): string {
  return createHash('sha1')
    .update(thingHwid + secret, 'utf8')
    .digest('base64');
}

/** Constant-time string equality (lengths may differ: compared as SHA-256 digests). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** SHA-256 (hex) of an auth code or uploaded password: what the module tables keep. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** True when `given` is the derived password `expected` (standard base64), in either alphabet, padded or not. */
export function derivedPassMatches(given: string, expected: string): boolean {
  const normalized = given.replaceAll('-', '+').replaceAll('_', '/').replace(/=+$/, '');
  return sameSecret(normalized, expected.replace(/=+$/, ''));
}
