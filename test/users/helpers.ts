/**
 * A Switchboard for the users tests: anonymous access off, a known admin password, and helpers that go through the
 * real HTTP API (organizations, users, API keys, login) and sign short-lived tokens with the server's own JWT key.
 */
import type mqtt from 'mqtt';
import { loadOrCreateJwtKey, TokenSigner } from '../../src/auth/index.js';
import type { Role } from '../../src/platform/model.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/index.js';

export const ADMIN_PASSWORD = 'admin-password-1';
const USER_PASSWORD = 'user-password-1';

/** A user made through the API: its id, organization and a login JWT. */
export interface TestUser {
  id: string;
  orgId: string;
  role: Role;
  token: string;
}

/** An API key made through the API. */
export interface TestApiKey {
  id: string;
  orgId: string;
  role: Role;
  key: string;
}

export interface UsersServer {
  server: TestServer;
  /** `ws://127.0.0.1:<http port>/api/mqtt/` */
  apiMqttUrl: string;
  /** The server organization and its admin's JWT. */
  orgId: string;
  adminToken: string;
  request(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** A second organization with its own admin. */
  createOrganization(name: string): Promise<{ orgId: string; adminToken: string }>;
  /** A user of the admin's organization with `role`, logged in. */
  createUser(role: Role, adminToken?: string): Promise<TestUser>;
  createApiKey(role: Role, adminToken?: string): Promise<TestApiKey>;
  /** A token for `user` signed with the server's key, living `lifetimeSeconds` from `issuedAtMs`. */
  signToken(user: TestUser, lifetimeSeconds: number, issuedAtMs?: number): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

/** Starts the server; `dataDir` reuses a data directory (a restart), which the caller then removes. */
export async function startUsersServer(options: TestServerOptions & { dataDir?: string } = {}): Promise<UsersServer> {
  const { dataDir, ...serverOptions } = options;
  const server = await startTestServer(
    { allowAnonymous: false, adminPassword: ADMIN_PASSWORD, ...(dataDir === undefined ? {} : { dataDir }) },
    serverOptions,
  );
  const request: UsersServer['request'] = async (method, path, token, body) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(server.httpUrl + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  const expect = async (status: number, method: string, path: string, token?: string, body?: unknown) => {
    const response = await request(method, path, token, body);
    if (response.status !== status) {
      throw new Error(`${method} ${path}: ${String(response.status)} ${JSON.stringify(response.json)}`);
    }
    return response.json as Record<string, unknown>;
  };
  const login = async (username: string, password: string): Promise<string> =>
    (await expect(200, 'POST', '/api/auth/login', undefined, { username, password }))['token'] as string;
  const adminToken = await login('admin', ADMIN_PASSWORD);
  const me = await expect(200, 'GET', '/api/auth/me', adminToken);
  const orgId = me['orgId'] as string;
  const signingKey = loadOrCreateJwtKey(server.dataDir);

  return {
    server,
    apiMqttUrl: `ws://${server.host}:${String(server.httpPort)}/api/mqtt/`,
    orgId,
    adminToken,
    request,
    async createOrganization(name) {
      const username = `admin-of-${name}-${String(++counter)}`;
      const created = await expect(201, 'POST', '/api/organizations', adminToken, {
        name,
        admin: { username, password: USER_PASSWORD },
      });
      return { orgId: created['id'] as string, adminToken: await login(username, USER_PASSWORD) };
    },
    async createUser(role, asAdmin = adminToken) {
      const username = `${role}-${String(++counter)}`;
      const created = await expect(201, 'POST', '/api/users', asAdmin, { username, password: USER_PASSWORD, role });
      const token = await login(username, USER_PASSWORD);
      return { id: created['id'] as string, orgId: created['orgId'] as string, role, token };
    },
    async createApiKey(role, asAdmin = adminToken) {
      const created = await expect(201, 'POST', '/api/api-keys', asAdmin, { name: `key-${String(++counter)}`, role });
      return {
        id: created['id'] as string,
        orgId: created['orgId'] as string,
        role,
        key: created['key'] as string,
      };
    },
    signToken(user, lifetimeSeconds, issuedAtMs = Date.now()) {
      return new TokenSigner(signingKey, lifetimeSeconds).sign(
        { sub: user.id, org: user.orgId, role: user.role },
        issuedAtMs,
      );
    },
    close: () => server.close(),
  };
}

/** MQTT.js options for a user session: the secret as both username and password. */
export function asUser(secret: string, protocolVersion: 4 | 5 = 5): mqtt.IClientOptions {
  return { username: secret, password: secret, protocolVersion };
}
