/**
 * User tokens: HS256 JWTs signed with a 32-byte key kept in `<dataDir>/jwt.key` (generated on first start, mode 0600),
 * so tokens survive restarts and every process sharing the data dir (server, CLI) signs with the same key.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors, jwtVerify, SignJWT } from 'jose';
import { ROLES, type Role } from '../platform/model.js';

const KEY_BYTES = 32;
const KEY_FILE = 'jwt.key';
const ALGORITHM = 'HS256';
const ISSUER = 'switchboard';

/** The claims Switchboard puts in a user token. */
export interface TokenClaims {
  /** User id. */
  sub: string;
  /** Organization id. */
  org: string;
  role: Role;
  /** Expiry, epoch seconds. */
  exp: number;
}

/**
 * Reads the signing key from `<dataDir>/jwt.key`, creating the directory and a new random key when missing. The file
 * is written exclusively (`wx`) so two processes starting at once cannot end up with different keys.
 */
export function loadOrCreateJwtKey(dataDir: string): Uint8Array {
  const path = join(dataDir, KEY_FILE);
  try {
    return readKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(path, randomBytes(KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it between our read and write: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readKey(path);
}

function readKey(path: string): Uint8Array {
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length < KEY_BYTES)
    throw new Error(`${path} holds ${String(key.length)} bytes; expected ${String(KEY_BYTES)}`);
  return new Uint8Array(key);
}

/** Signs and verifies user tokens with one key. */
export class TokenSigner {
  readonly #key: Uint8Array;
  readonly #lifetimeSeconds: number;

  constructor(key: Uint8Array, lifetimeSeconds: number) {
    this.#key = key;
    this.#lifetimeSeconds = lifetimeSeconds;
  }

  get lifetimeSeconds(): number {
    return this.#lifetimeSeconds;
  }

  /** A token for the user, valid for the configured lifetime. */
  sign(claims: Omit<TokenClaims, 'exp'>, nowMs = Date.now()): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    return new SignJWT({ org: claims.org, role: claims.role })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#lifetimeSeconds)
      .sign(this.#key);
  }

  /** The token's claims, or undefined when it is malformed, forged, expired or of another shape. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.#key, { algorithms: [ALGORITHM], issuer: ISSUER });
      const { sub, exp } = payload;
      const org = payload['org'];
      const role = payload['role'];
      if (typeof sub !== 'string' || typeof exp !== 'number' || typeof org !== 'string') return undefined;
      if (!ROLES.includes(role as Role)) return undefined;
      return { sub, org, role: role as Role, exp };
    } catch (error) {
      if (error instanceof errors.JOSEError) return undefined;
      throw error;
    }
  }
}
