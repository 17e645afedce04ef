/**
 * A real HTTP API for tests: a SQLite platform store in a temp dir, the platform, auth with a first-start admin, and
 * the Fastify app listening on 127.0.0.1 port 0. Requests go through `fetch`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AuthService, bootstrapAdmin, loadOrCreateJwtKey } from '../../src/auth/index.js';
import { createHttpApp } from '../../src/http/index.js';
import type { BrokerStats } from '../../src/broker/index.js';
import type { Role } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';

export const ADMIN_PASSWORD = 'admin-password-1';

export interface Api {
  baseUrl: string;
  app: FastifyInstance;
  platform: Platform;
  auth: AuthService;
  registry: Registry;
  dataDir: string;
  orgId: string;
  /** A JWT of the bootstrap admin. */
  adminToken: string;
  /** Sends a request; `body` objects are JSON-encoded; `auth` is a JWT (Bearer) or `{ apiKey }`. */
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /** Logs in and returns the token. */
  login(username: string, password: string): Promise<string>;
  /** Creates a user in the organization (default: the admin's) and returns its JWT. */
  userToken(role: Role, orgId?: string): Promise<string>;
  close(): Promise<void>;
}

export interface RequestOptions {
  auth?: string | { apiKey: string } | undefined;
  body?: unknown;
  /** Sent as is, with content-type application/json. */
  rawBody?: string;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  json: unknown;
  text: string;
}

export const FAKE_BROKER_STATS: BrokerStats = {
  clientsConnected: 3,
  messagesReceived: 41,
  messagesSent: 17,
  messagesDropped: 2,
  connectsRefused: 1,
  subscriptions: 5,
  retainedMessages: 0,
  sessions: 3,
  storeCommits: 9,
  storeOpsQueued: 30,
  storeOpsWritten: 12,
};

let userCounter = 0;

/**
 * Starts the API. With `dataDir`, an existing data dir is used (and kept); its admin must have ADMIN_PASSWORD.
 */
export async function startApi(options: { rpcMinTimeoutMs?: number; dataDir?: string } = {}): Promise<Api> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-http-'));
  const logger = pino({ level: 'silent' });
  const store = new SqlitePlatformStore(join(dataDir, 'platform.db'));
  const platform = new Platform({
    store,
    logger,
    rpc: {
      defaultTimeoutMs: options.rpcMinTimeoutMs ?? 5_000,
      minTimeoutMs: options.rpcMinTimeoutMs ?? 5_000,
      deliveryTimeoutMs: 5_000,
      maxRetries: 5,
    },
  });
  const auth = new AuthService({ store, entities: platform.entities, jwtKey: loadOrCreateJwtKey(dataDir) });
  const boot = await bootstrapAdmin({ entities: platform.entities, auth, adminPassword: ADMIN_PASSWORD });
  const orgId = boot.isCreated ? boot.orgId : await auth.serverOrgId();
  if (orgId === undefined) throw new Error('no organization after bootstrap');
  const registry = new Registry();
  const app = await createHttpApp({
    platform,
    auth,
    logger,
    metrics: { registry, broker: { brokerStats: () => FAKE_BROKER_STATS } },
    sse: { heartbeatMs: 60_000 },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const baseUrl = `http://127.0.0.1:${String(address.port)}`;

  const request = async (method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = {};
    if (typeof opts.auth === 'string') headers['authorization'] = `Bearer ${opts.auth}`;
    else if (opts.auth !== undefined) headers['x-api-key'] = opts.auth.apiKey;
    let body: string | undefined;
    if (opts.rawBody !== undefined) body = opts.rawBody;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(baseUrl + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: text === '' ? undefined : JSON.parse(text),
    };
  };
  const login = async (username: string, password: string): Promise<string> => {
    const response = await request('POST', '/api/auth/login', { body: { username, password } });
    if (response.status !== 200) throw new Error(`login failed: ${response.text}`);
    return (response.json as { token: string }).token;
  };
  const adminToken = await login('admin', ADMIN_PASSWORD);

  return {
    baseUrl,
    app,
    platform,
    auth,
    registry,
    dataDir,
    orgId,
    adminToken,
    request,
    login,
    async userToken(role, userOrgId = orgId) {
      const username = `user-${String(++userCounter)}-${role}`;
      await auth.createUser(userOrgId, { username, password: 'password-123', role });
      return login(username, 'password-123');
    },
    async close() {
      await app.close();
      await platform.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The `error` code of an error response. */
export function errorCode(response: ApiResponse): unknown {
  return (response.json as { error?: unknown } | undefined)?.error;
}
