/**
 * API keys: `sbk_` + 32 random alphanumerics (about 190 bits). Only the SHA-256 of the whole key is stored, with a
 * short prefix so a user can tell keys apart; a fast hash is enough because the key is random, not a password.
 */
import { createHash } from 'node:crypto';
import { randomAlphanumeric } from '../platform/entities.js';

export const API_KEY_PREFIX = 'sbk_';
const RANDOM_CHARS = 32;
/** `sbk_` plus this many characters are kept in clear. */
const SHOWN_CHARS = 6;

export interface GeneratedApiKey {
  /** The key itself: shown once, never stored. */
  key: string;
  prefix: string;
  keyHash: string;
}

export function generateApiKey(): GeneratedApiKey {
  const key = API_KEY_PREFIX + randomAlphanumeric(RANDOM_CHARS);
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + SHOWN_CHARS), keyHash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether a secret looks like an API key (and not a JWT), before any look-up. */
export function isApiKeyShaped(secret: string): boolean {
  return secret.startsWith(API_KEY_PREFIX) && secret.length === API_KEY_PREFIX.length + RANDOM_CHARS;
}
