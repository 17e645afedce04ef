/**
 * A whole Switchboard (startServer, as `switchboard` runs it) with what a Medium One user sets up first, made through
 * the management API: a project (organization, its `mqttId`), an API key, and device users with `mqttId`s and
 * passwords. Logins are `<project>/<user>` with `<api key>/<password>` (device-apis.md §4.1).
 */
import type { DeepPartial, TestServer } from '../helpers/index.js';
import { startTestServer } from '../helpers/index.js';
import type { Config } from '../../src/config/index.js';
import type { Platform } from '../../src/platform/platform.js';

export const ADMIN_PASSWORD = 'admin-password-1';

export interface ApiResponse {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

export interface DeviceUser {
  id: string;
  username: string;
  password: string;
  mqttId: string;
}

export interface Project {
  orgId: string;
  mqttId: string;
  /** A JWT of an admin of the organization. */
  adminToken: string;
  apiKey: string;
  /** Creates a user (role operator) with a password and returns it with its mqttId. */
  createUser(name: string): Promise<DeviceUser>;
  /** MQTT username `<project>/<user>`. */
  usernameOf(user: DeviceUser): string;
  /** MQTT password `<api key>/<password>`. */
  passwordOf(user: DeviceUser): string;
}

export interface M1Fixture {
  server: TestServer;
  platform: Platform;
  /** The first start's organization. */
  project: Project;
  user: DeviceUser;
  api(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; raw?: string; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** A second organization (another Medium One project) with its own admin and API key. */
  createProject(name: string): Promise<Project>;
  close(): Promise<void>;
}

let counter = 0;

export async function startM1(overrides: DeepPartial<Config> = {}): Promise<M1Fixture> {
  const server = await startTestServer({ adminPassword: ADMIN_PASSWORD, allowAnonymous: false, ...overrides });
  const api: M1Fixture['api'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  };
  const expect = async (response: Promise<ApiResponse>, status: number, what: string): Promise<ApiResponse> => {
    const result = await response;
    if (result.status !== status) throw new Error(`${what}: HTTP ${result.status} ${result.text}`);
    return result;
  };
  const login = async (username: string, password: string): Promise<string> => {
    const result = await expect(api('POST', '/api/auth/login', { body: { username, password } }), 200, 'login');
    return (result.json as { token: string }).token;
  };

  const projectOf = async (orgId: string, adminToken: string): Promise<Project> => {
    const org = await expect(api('GET', `/api/organizations/${orgId}`, { token: adminToken }), 200, 'organization');
    const key = await expect(
      api('POST', '/api/api-keys', { token: adminToken, body: { name: `m1-${++counter}`, role: 'operator' } }),
      201,
      'api key',
    );
    const apiKey = (key.json as { key: string }).key;
    const project: Project = {
      orgId,
      mqttId: (org.json as { mqttId: string }).mqttId,
      adminToken,
      apiKey,
      createUser: async (name) => {
        const password = `pw-${name}-${++counter}`;
        const username = `${name}-${counter}`;
        const created = await expect(
          api('POST', '/api/users', { token: adminToken, body: { username, password, role: 'operator' } }),
          201,
          'user',
        );
        const user = created.json as { id: string; mqttId: string };
        return { id: user.id, username, password, mqttId: user.mqttId };
      },
      usernameOf: (user) => `${project.mqttId}/${user.mqttId}`,
      passwordOf: (user) => `${apiKey}/${user.password}`,
    };
    return project;
  };

  try {
    const adminToken = await login('admin', ADMIN_PASSWORD);
    const me = await expect(api('GET', '/api/auth/me', { token: adminToken }), 200, 'me');
    const orgId = (me.json as { orgId: string }).orgId;
    const project = await projectOf(orgId, adminToken);
    const user = await project.createUser('device-user');
    return {
      server,
      platform: server.server.platform,
      project,
      user,
      api,
      createProject: async (name) => {
        const org = await expect(api('POST', '/api/organizations', { token: adminToken, body: { name } }), 201, 'org');
        const otherOrgId = (org.json as { id: string }).id;
        const adminName = `${name}-admin-${++counter}`;
        await expect(
          api('POST', '/api/users', {
            token: adminToken,
            body: { username: adminName, password: ADMIN_PASSWORD, role: 'admin', orgId: otherOrgId },
          }),
          201,
          'other admin',
        );
        return projectOf(otherOrgId, await login(adminName, ADMIN_PASSWORD));
      },
      close: () => server.close(),
    };
  } catch (error) {
    await server.close();
    throw error;
  }
}
