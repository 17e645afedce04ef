/**
 * Who a Medium One client is (device-apis.md §4.1, choices.md "Who connects" step 3): username
 * `<project mqttId>/<user mqttId>`, password `<API key of the organization>/<the user's password>`, client id up to 32
 * characters. The project is an organization (`mqttId`), the user a platform user (`mqttId`); the API key is checked
 * by the auth module, the password with its password functions.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AuthService } from '../../auth/index.js';
import { hashPassword, isApiKeyShaped, verifyPassword } from '../../auth/index.js';
import type { ConnectRequest } from '../../broker/index.js';
import type { Organization } from '../../platform/model.js';
import type { PlatformStore, StoredUser } from '../../storage/platform-store.js';

/** What the Medium One auth step attaches to a client (`client.identity`) and a REST session carries. */
export interface MediumOneIdentity {
  readonly kind: 'mediumone';
  readonly orgId: string;
  readonly userId: string;
  readonly projectMqttId: string;
  readonly userMqttId: string;
}

export function isMediumOneIdentity(identity: unknown): identity is MediumOneIdentity {
  return (identity as { kind?: unknown } | null | undefined)?.kind === 'mediumone';
}

/** The source document: "client_id: unique string up to 32 characters". */
export const MAX_CLIENT_ID_LENGTH = 32;

/** MQTT 5 reason codes of the dialect (the broker maps them for 3.1.1 in one place). */
export const M1Reason = {
  Success: 0x00,
  ImplementationSpecificError: 0x83,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  TopicNameInvalid: 0x90,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
} as const;

/** A login split into its parts. */
export interface MediumOneLogin {
  projectMqttId: string;
  userMqttId: string;
  apiKey: string;
  password: string;
}

/**
 * The credentials, when they have Medium One's shape: a username with exactly one `/` between two non-empty parts,
 * and a password starting with an API key and a `/`. Anything else is another dialect's (undefined).
 */
export function parseMediumOneLogin(
  username: string | undefined,
  password: Buffer | string | undefined,
): MediumOneLogin | undefined {
  if (username === undefined || password === undefined) return undefined;
  const slash = username.indexOf('/');
  if (slash <= 0 || slash === username.length - 1 || username.indexOf('/', slash + 1) >= 0) return undefined;
  const secret = typeof password === 'string' ? password : password.toString('utf8');
  const split = secret.indexOf('/');
  if (split < 0) return undefined;
  const apiKey = secret.slice(0, split);
  if (!isApiKeyShaped(apiKey)) return undefined;
  return {
    projectMqttId: username.slice(0, slash),
    userMqttId: username.slice(slash + 1),
    apiKey,
    password: secret.slice(split + 1),
  };
}

export interface LoginDeps {
  store: PlatformStore;
  auth: AuthService;
}

/**
 * Logins verified recently, so the many devices of one user (and a fleet reconnecting after a restart) cost one
 * scrypt verification per user, not one per connection. Keyed by a SHA-256 of username and password (the password is
 * never kept); only successes are kept, for `ttlMs`, at most `maxEntries` (the oldest leaves first). Entries of a user
 * or organization are dropped when it, or one of its API keys, changes.
 */
export class VerifiedLogins {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, { identity: MediumOneIdentity; expiresAtMs: number }>();

  constructor(ttlSeconds: number, maxEntries: number) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#maxEntries = maxEntries;
  }

  static keyOf(username: string, password: Buffer | string): string {
    return createHash('sha256').update(username).update('\n').update(password).digest('hex');
  }

  get(key: string, nowMs = Date.now()): MediumOneIdentity | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.identity;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, identity: MediumOneIdentity, nowMs = Date.now()): void {
    if (this.#ttlMs === 0) return;
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { identity, expiresAtMs: nowMs + this.#ttlMs });
  }

  forget(predicate: (identity: MediumOneIdentity) => boolean): void {
    for (const [key, entry] of this.#entries) if (predicate(entry.identity)) this.#entries.delete(key);
  }
}

export type LoginOutcome = { ok: true; identity: MediumOneIdentity } | { ok: false; reasonCode: number };

/** Verified against when the user is unknown, so a refusal takes as long either way (made on first use). */
let unknownUserHash: Promise<string> | undefined;

/**
 * Checks a login whose organization and user were looked up: 0x86 for an unknown project or user, a user of another
 * project, a wrong password or an unknown API key; 0x87 for a valid API key of another organization.
 */
export async function verifyLogin(
  deps: LoginDeps,
  org: Organization | undefined,
  user: StoredUser | undefined,
  apiKey: string,
  password: string,
): Promise<LoginOutcome> {
  unknownUserHash ??= hashPassword(randomBytes(16).toString('hex'));
  const [isPasswordValid, caller] = await Promise.all([
    verifyPassword(password, user?.passwordHash ?? (await unknownUserHash)),
    deps.auth.authenticateSecret(apiKey),
  ]);
  if (org === undefined || user === undefined || user.orgId !== org.id || !isPasswordValid || caller === undefined) {
    return { ok: false, reasonCode: M1Reason.BadUserNameOrPassword };
  }
  if (caller.kind !== 'api-key' || caller.orgId !== org.id) return { ok: false, reasonCode: M1Reason.NotAuthorized };
  return {
    ok: true,
    identity: { kind: 'mediumone', orgId: org.id, userId: user.id, projectMqttId: org.mqttId, userMqttId: user.mqttId },
  };
}

/**
 * The broker auth step: undefined for credentials of another shape; a refusal with 0x85 for a client id longer than
 * 32 characters (3.1.1: 0x02 Identifier rejected), 0x86/0x87 as `verifyLogin` says.
 */
export function authenticateMediumOne(
  deps: LoginDeps,
  request: ConnectRequest,
  logins: VerifiedLogins,
): LoginOutcome | Promise<LoginOutcome> | undefined {
  // Answered synchronously unless the store must be asked: most connects are not Medium One logins.
  const login = parseMediumOneLogin(request.username, request.password);
  if (login === undefined || request.username === undefined || request.password === undefined) return undefined;
  if (request.clientId.length > MAX_CLIENT_ID_LENGTH) {
    return { ok: false, reasonCode: M1Reason.ClientIdentifierNotValid };
  }
  const key = VerifiedLogins.keyOf(request.username, request.password);
  const known = logins.get(key);
  if (known !== undefined) return { ok: true, identity: known };
  return verifyStoredLogin(deps, login, key, logins);
}

async function verifyStoredLogin(
  deps: LoginDeps,
  login: MediumOneLogin,
  key: string,
  logins: VerifiedLogins,
): Promise<LoginOutcome> {
  // A store failure throws: the router logs it and refuses with 0x88 Server unavailable.
  const [org, user] = await Promise.all([
    deps.store.getOrganizationByMqttId(login.projectMqttId),
    deps.store.getUserByMqttId(login.userMqttId),
  ]);
  const outcome = await verifyLogin(deps, org, user, login.apiKey, login.password);
  if (outcome.ok) logins.set(key, outcome.identity);
  return outcome;
}
