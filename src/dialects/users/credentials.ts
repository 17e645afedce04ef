/**
 * The shape of a user session's CONNECT (choices.md "Who connects", step 2; device-apis.md §1.5): username and password
 * are the same string, and that string is a JWT or a Switchboard API key. Shape only: nothing is looked up here.
 */
import { isApiKeyShaped } from '../../auth/index.js';

/** The secret a user session connects with. */
export interface UserSecret {
  kind: 'jwt' | 'api-key';
  secret: string;
}

/** Three base64url segments (header, payload, signature); the header is checked further below. */
const JWT_PATTERN = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Far above any token Switchboard signs (about 250 bytes); longer strings are not looked at. */
const MAX_JWT_LENGTH = 8192;

/**
 * The user secret of a CONNECT, or undefined when the credentials are not of that shape (another dialect's step is
 * asked). A JWT needs more than "two dots": its header must decode to a JSON object naming an `alg`, so device
 * credentials that happen to contain two dots are left to the device dialects.
 */
export function userSecretOf(username: string | undefined, password: Buffer | undefined): UserSecret | undefined {
  if (username === undefined || password === undefined || username.length === 0) return undefined;
  if (password.length !== Buffer.byteLength(username, 'utf8') || password.toString('utf8') !== username) {
    return undefined;
  }
  if (isApiKeyShaped(username)) return { kind: 'api-key', secret: username };
  return isJwtShaped(username) ? { kind: 'jwt', secret: username } : undefined;
}

/** Whether `text` looks like a compact JWS: three base64url segments and a JSON header with an `alg`. */
export function isJwtShaped(text: string): boolean {
  if (text.length > MAX_JWT_LENGTH) return false;
  const header = JWT_PATTERN.exec(text)?.[1];
  if (header === undefined) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof decoded === 'object' && decoded !== null && typeof (decoded as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** The `exp` claim of a JWT already verified, in epoch ms; undefined when it has none. */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const exp = typeof claims === 'object' && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
