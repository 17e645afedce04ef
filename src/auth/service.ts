/**
 * Authentication: login with username and password (→ a JWT), and resolving a request's or an MQTT session's secret
 * (a JWT or an API key) to a `Caller`. User tokens are checked against the store on every use, so deleting a user or
 * changing its role takes effect at once rather than when the token expires.
 */
import { randomBytes } from 'node:crypto';
import { publicUser, type EntityService } from '../platform/entities.js';
import type { ApiKey, Role, User } from '../platform/model.js';
import type { PlatformStore } from '../storage/platform-store.js';
import { generateApiKey, hashApiKey, isApiKeyShaped } from './api-keys.js';
import { TokenSigner } from './jwt.js';
import { hashPassword, verifyPassword } from './password.js';
import type { Caller } from './roles.js';

export interface AuthServiceOptions {
  store: PlatformStore;
  entities: EntityService;
  /** 32 bytes; see `loadOrCreateJwtKey`. */
  jwtKey: Uint8Array;
  /** Lifetime of login tokens; default 3600. */
  tokenLifetimeSeconds?: number;
}

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;

/** A hash to verify against when the username is unknown, so a login takes as long either way (made on first use). */
let unknownUserHash: Promise<string> | undefined;

export class AuthService {
  readonly #store: PlatformStore;
  readonly #entities: EntityService;
  readonly #tokens: TokenSigner;
  /** The server organization (the oldest one): found on first need, then fixed for the process. */
  #serverOrgId: Promise<string | undefined> | undefined;

  constructor(options: AuthServiceOptions) {
    this.#store = options.store;
    this.#entities = options.entities;
    this.#tokens = new TokenSigner(options.jwtKey, options.tokenLifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS);
  }

  get tokenLifetimeSeconds(): number {
    return this.#tokens.lifetimeSeconds;
  }

  /** A JWT for the user, or undefined when the username or the password is wrong (the caller cannot tell which). */
  async login(username: string, password: string): Promise<{ token: string; user: User } | undefined> {
    const stored = await this.#store.getUserByUsername(username);
    unknownUserHash ??= hashPassword(randomBytes(16).toString('hex'));
    const isValid = await verifyPassword(password, stored?.passwordHash ?? (await unknownUserHash));
    if (stored === undefined || !isValid) return undefined;
    const token = await this.#tokens.sign({ sub: stored.id, org: stored.orgId, role: stored.role });
    return { token, user: publicUser(stored) };
  }

  /**
   * The caller behind HTTP headers: `Authorization: Bearer <jwt or API key>` or `X-API-Key: <key>`. Undefined when
   * none is given or it is not valid.
   */
  async authenticateHeaders(headers: {
    authorization?: string | undefined;
    'x-api-key'?: string | string[] | undefined;
  }): Promise<Caller | undefined> {
    const apiKey = headers['x-api-key'];
    if (typeof apiKey === 'string' && apiKey.length > 0) return this.authenticateSecret(apiKey);
    const authorization = headers.authorization;
    if (authorization === undefined) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1] === undefined ? undefined : this.authenticateSecret(match[1]);
  }

  /** Resolves a JWT or an API key (e.g. an MQTT user session's password, choices.md "Who connects"). */
  async authenticateSecret(secret: string): Promise<Caller | undefined> {
    if (isApiKeyShaped(secret)) {
      const key = await this.#store.getApiKeyByHash(hashApiKey(secret));
      return key === undefined ? undefined : this.#caller('api-key', key.id, key.orgId, key.role);
    }
    const claims = await this.#tokens.verify(secret);
    if (claims === undefined) return undefined;
    const user = await this.#store.getUser(claims.sub);
    if (user?.orgId !== claims.org) return undefined;
    return this.#caller('user', user.id, user.orgId, user.role);
  }

  /** Creates a user with a hashed password; throws DuplicateError('username'). */
  async createUser(
    orgId: string,
    input: {
      username: string;
      password: string;
      role: Role;
      email?: string | null | undefined;
      mqttId?: string | undefined;
    },
  ): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    return this.#entities.createUser(orgId, {
      username: input.username,
      passwordHash,
      role: input.role,
      email: input.email,
      mqttId: input.mqttId,
    });
  }

  /** Changes a user's role, password, e-mail or MQTT id. */
  async updateUser(
    orgId: string,
    id: string,
    patch: {
      role?: Role | undefined;
      password?: string | undefined;
      email?: string | null | undefined;
      mqttId?: string | undefined;
    },
  ): Promise<User | undefined> {
    const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);
    return this.#entities.updateUser(orgId, id, {
      role: patch.role,
      passwordHash,
      email: patch.email,
      mqttId: patch.mqttId,
    });
  }

  /**
   * The user whose password this is, found by e-mail (CloudPlugs account logins) or MQTT id (Medium One logins);
   * undefined when the user is unknown or the password is wrong (verified in the same time either way).
   */
  async verifyUserPassword(by: 'email' | 'mqttId', login: string, password: string): Promise<User | undefined> {
    const stored =
      by === 'email'
        ? await this.#store.getUserByEmail(login.trim().toLowerCase())
        : await this.#store.getUserByMqttId(login);
    unknownUserHash ??= hashPassword(randomBytes(16).toString('hex'));
    const isValid = await verifyPassword(password, stored?.passwordHash ?? (await unknownUserHash));
    return stored !== undefined && isValid ? publicUser(stored) : undefined;
  }

  /** Creates an API key; the returned `key` is the only time the secret exists outside the caller's hands. */
  async createApiKey(orgId: string, input: { name: string; role: Role }): Promise<ApiKey & { key: string }> {
    const generated = generateApiKey();
    const apiKey = await this.#entities.createApiKey(orgId, {
      name: input.name,
      role: input.role,
      prefix: generated.prefix,
      keyHash: generated.keyHash,
    });
    return { ...apiKey, key: generated.key };
  }

  /** The id of the server organization: the first one created (at first start), or undefined with none. */
  serverOrgId(): Promise<string | undefined> {
    this.#serverOrgId ??= this.#store.listOrganizations().then((orgs) => {
      let oldest = orgs[0];
      for (const org of orgs) {
        if (oldest === undefined || org.createdAt < oldest.createdAt) oldest = org;
      }
      if (oldest === undefined) this.#serverOrgId = undefined; // none yet: look again next time
      return oldest?.id;
    });
    return this.#serverOrgId;
  }

  async #caller(kind: Caller['kind'], id: string, orgId: string, role: Role): Promise<Caller> {
    const isServerAdmin = role === 'admin' && (await this.serverOrgId()) === orgId;
    return { kind, id, orgId, role, isServerAdmin };
  }
}
