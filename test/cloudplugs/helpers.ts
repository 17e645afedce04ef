/**
 * A Switchboard (the whole server, as `startServer` assembles it) with CloudPlugs fixtures made through the
 * management API: an admin session, production templates, things with their Plug-ID and auth code, accounts.
 */
import { randomBytes } from 'node:crypto';
import type { IClientOptions } from 'mqtt';
import {
  connectClient,
  startTestServer,
  type DeepPartial,
  type TestClient,
  type TestServer,
} from '../helpers/index.js';
import type { Config } from '../../src/config/index.js';
import { controlPass, thingEnrollPass } from '../../src/dialects/cloudplugs/index.js';

export { controlPass, thingEnrollPass };

export const ADMIN_PASSWORD = 'admin-password-1';

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** A JSON request; `body` a string is sent as is. */
export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, text };
}

export interface Template {
  id: string;
  plugId: string;
  secret: string;
}

export interface Thing {
  deviceId: string;
  plugId: string;
  auth: string;
  hwid: string;
}

export interface PlugServer {
  test: TestServer;
  /** Bearer token of the admin (server organization). */
  token: string;
  orgId: string;
  /** A management API call as admin (or `token`). */
  api(method: string, path: string, body?: unknown, token?: string): Promise<HttpAnswer>;
  /** A `/iot` call with the given headers. */
  iot(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<HttpAnswer>;
  createTemplate(name?: string, token?: string): Promise<Template>;
  /** A thing of `template` created through the management API (the same as an enrolled one). */
  createThing(template: Template, hwid?: string, token?: string): Promise<Thing>;
  /** A new organization with an operator whose e-mail / password is a CloudPlugs account; answers its token. */
  createOrganization(): Promise<{ orgId: string; token: string; email: string; password: string }>;
  /** MQTT.js logged in as the thing. */
  connectThing(thing: Thing, options?: IClientOptions): Promise<TestClient>;
  close(): Promise<void>;
}

export async function startPlugServer(overrides: DeepPartial<Config> = {}): Promise<PlugServer> {
  const test = await startTestServer({ allowAnonymous: false, adminPassword: ADMIN_PASSWORD, ...overrides });
  const base = test.httpUrl;
  const login = await request(base, 'POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  const token = (login.body as { token: string }).token;
  const api = (method: string, path: string, body?: unknown, as = token): Promise<HttpAnswer> =>
    request(base, method, path, body, { authorization: `Bearer ${as}` });
  const me = await api('GET', '/api/auth/me');
  const orgId = (me.body as { orgId: string }).orgId;
  const server: PlugServer = {
    test,
    token,
    orgId,
    api,
    iot: (method, path, body, headers) => request(base, method, path, body, headers),
    async createTemplate(name = `model-${randomBytes(3).toString('hex')}`, as = token) {
      const secret = `secret-${randomBytes(6).toString('hex')}`;
      const answer = await api('POST', '/api/profiles', { name, cloudplugs: { enrollSecret: secret } }, as);
      if (answer.status !== 201) throw new Error(`template: ${answer.text}`);
      const body = answer.body as { id: string; plugId: string };
      return { id: body.id, plugId: body.plugId, secret };
    },
    async createThing(template, hwid = `HW-${randomBytes(4).toString('hex')}`, as = token) {
      const answer = await api(
        'POST',
        '/api/devices',
        { name: `thing ${hwid}`, profile: template.id, hwid, credentials: { type: 'CLOUDPLUGS' } },
        as,
      );
      if (answer.status !== 201) throw new Error(`thing: ${answer.text}`);
      const body = answer.body as { id: string; credentials: { plugId: string; auth: string } };
      return { deviceId: body.id, plugId: body.credentials.plugId, auth: body.credentials.auth, hwid };
    },
    async createOrganization() {
      const suffix = randomBytes(4).toString('hex');
      const org = await api('POST', '/api/organizations', { name: `org-${suffix}` });
      if (org.status !== 201) throw new Error(`organization: ${org.text}`);
      const orgIdOf = (org.body as { id: string }).id;
      const email = `ops-${suffix}@example.com`;
      const password = `password-${suffix}`;
      const user = await api('POST', '/api/users', {
        username: `ops-${suffix}`,
        password,
        role: 'operator',
        email,
        orgId: orgIdOf,
      });
      if (user.status !== 201) throw new Error(`user: ${user.text}`);
      const userLogin = await request(base, 'POST', '/api/auth/login', { username: `ops-${suffix}`, password });
      return { orgId: orgIdOf, token: (userLogin.body as { token: string }).token, email, password };
    },
    connectThing: (thing, options = {}) =>
      connectClient(test.mqttUrl, {
        clientId: `${thing.hwid}/t`,
        username: thing.plugId,
        password: thing.auth,
        ...options,
      }),
    close: () => test.close(),
  };
  return server;
}

/**
 * A derived password as a topic level: base64's `+` cannot appear inside an MQTT filter level ([MQTT-4.7.1-2]), so
 * clients send the URL-safe spelling, which the server accepts (docs/cloudplugs.md, "Enrolment").
 */
export function topicPass(pass: string): string {
  return pass.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export const thingTopicPass = (secret: string, hwid: string): string => topicPass(thingEnrollPass(secret, hwid));
export const controlTopicPass = (secret: string, hwid: string): string => topicPass(controlPass(secret, hwid));

/** `{id, data, at}` as a subscriber gets it. */
export function record(payload: string): { id: string; data: unknown; at: number } {
  return JSON.parse(payload) as { id: string; data: unknown; at: number };
}
